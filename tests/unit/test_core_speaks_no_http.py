"""The core speaks no HTTP (ADR 0017): no web framework, no header names, no HTTP phrases in domain or application.

Status codes, JSON views, header names and the signing scheme live in ``flosspay/adapters/http``
(outgoing webhooks': ``flosspay/adapters/webhooks``). The scan reads code only (identifiers, imports,
non-docstring strings), like the rail-name check. Webhook delivery still reads a receiver's status
code (2xx delivered, 410 gone) in the application: that is the contract with the receiver, not a wire detail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flosspay.adapters.http.hmac_auth import CLIENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from flosspay.adapters.http.idempotent import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from flosspay.adapters.webhooks.signing import webhook_headers
from flosspay.domain.webhooks import DueDelivery
from tests.unit.test_core_knows_no_rail import CORE, ROOT, _docstrings

pytestmark = pytest.mark.unit

_DUE = DueDelivery(
    delivery_id=1,
    claim="c",
    event_id="msg_x",
    endpoint_id="ep_x",
    url="https://x",
    payload=b"{}",
    secrets=("whsec_AA==",),
    attempts=0,
)

WEB_MODULES = ("litestar", "starlette", "httpx", "http", "urllib.request", "flosspay.adapters")
HEADERS = (IDEMPOTENCY_HEADER, REPLAYED_HEADER, CLIENT_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
# The Standard Webhooks headers of an outgoing delivery (adapters/webhooks/signing.py).
WEBHOOK_HEADERS = tuple(webhook_headers(_DUE, 0))
# What the problem documents say: the HTTP adapter's words (adapters/http/problems.py).
PHRASES = ("Unauthorized", "Too many requests", "Service unavailable", "header is required")


def _findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [f"imports {n}" for n in names if any(n == m or n.startswith(m + ".") for m in WEB_MODULES)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found += [
                f"says {word!r}"
                for word in (*HEADERS, *WEBHOOK_HEADERS, *PHRASES)
                if word.lower() in node.value.lower()
            ]
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            found += [f"uses {name}"] if name == "HTTPStatus" else []
    return found


def test_the_domain_and_the_application_speak_no_http() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): problems
        for folder in CORE
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (problems := _findings(path))
    }
    assert not found, f"HTTP in the core (move it to flosspay/adapters/http): {found}"


def test_the_scan_finds_http(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text(
        '"""Docs may say Idempotency-Key."""\nimport litestar\nfrom http import HTTPStatus\nx = {"Idempotency-Key": HTTPStatus.OK}\n'
    )
    assert sorted(_findings(path)) == ["imports http", "imports litestar", "says 'Idempotency-Key'", "uses HTTPStatus"]
