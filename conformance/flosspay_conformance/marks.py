"""``requires("refunds")``: the suite's way of tying a test to an optional rail capability."""

from __future__ import annotations

import pytest

from flosspay_conformance.requirements import RailRequirements

MARKER = "conformance_requires"


def requires(*capabilities: str) -> pytest.MarkDecorator:
    """Skip the test unless the rail's ``RailRequirements`` declares every one of ``capabilities``."""
    known = RailRequirements.capabilities()
    unknown = [c for c in capabilities if c not in known]
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; known: {', '.join(known)}")
    mark: pytest.MarkDecorator = getattr(pytest.mark, MARKER)(*capabilities)
    return mark
