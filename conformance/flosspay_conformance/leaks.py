"""Finding secrets where they must not be: free text (logs, reprs, messages) and stored data.

Long secrets (an API key, a PAN) are looked for anywhere. Short ones (a three-digit CVV) would
match by chance inside ports or line numbers, so in text they only count as a whole token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MIN_FREE_TEXT_LENGTH = 6


def normalise(secrets: Iterable[str]) -> list[str]:
    """Non-empty secrets, each once; a card number also as plain digits (``4111 1111…`` → ``4111…``)."""
    found: list[str] = []
    for secret in secrets:
        for variant in (secret, re.sub(r"[\s-]", "", secret)):
            if variant and variant not in found:
                found.append(variant)
    return found


def in_text(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets that occur in ``text``."""
    hits = []
    for secret in normalise(secrets):
        if len(secret) >= MIN_FREE_TEXT_LENGTH:
            if secret in text:
                hits.append(secret)
        elif re.search(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", text):
            hits.append(secret)
    return hits


def in_data(data: Any, secrets: Iterable[str]) -> list[str]:
    """The secrets held anywhere in a JSON-like structure (a whole value, or inside a longer string)."""
    wanted = normalise(secrets)
    hits: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(key)
                walk(item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                walk(item)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            for secret in wanted:
                exact = text == secret
                inside = len(secret) >= MIN_FREE_TEXT_LENGTH and secret in text
                if (exact or inside) and secret not in hits:
                    hits.append(secret)

    walk(data)
    return hits


def masked(secrets: Iterable[str]) -> str:
    """Secrets as safe to print in a failure message: a prefix of two and the length."""
    return ", ".join(f"{s[:2]}…({len(s)} chars)" for s in secrets)
