"""The core knows the rail contract, not any rail: no rail's field or method name in domain or application.

Names come from the installed rails themselves (their ``method`` and ``name``, every field of their
``request_type``, wire and Python spelling) plus the keys they store in ``details``. The scan reads
code only: identifiers and string literals, not comments or docstrings, which may give examples.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from flosspay.adapters.rails import RailLoader

ROOT = Path(__file__).resolve().parents[2]
CORE = ("flosspay/domain", "flosspay/application")

# What the shipped rails keep in ``details`` (prepare's output is not reachable without a PSP).
DETAIL_KEYS = {"senderUpi", "receiverUpi", "pan_token", "last4", "scheme", "expiry", "provider", "wallet_id"}
# Field names too generic to belong to one rail (``RailAttempt.number`` is not a card number).
GENERIC = {
    "number",
    "amount",
    "currency",
    "note",
    "bank",
    "scheme",
}  # "bank": also a VPA handle (name@bank); "scheme": a URL's

# What is left to move out of the core, file by file. Empty: the core names no rail (ADR 0017).
ALLOWED: dict[str, set[str]] = {}

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _struct_names(type_: type[msgspec.Struct]) -> Iterator[str]:
    for field in msgspec.structs.fields(type_):
        yield field.name
        yield field.encode_name
        inner = field.type
        for candidate in (inner, *getattr(inner, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
                yield from _struct_names(candidate)


def rail_vocabulary() -> set[str]:
    loader = RailLoader()
    registry = loader.build({name: {"psp_url": "http://127.0.0.1:9"} for name in loader.modules}, None)
    rails = registry.all()
    loaded = {rail.name for rail in rails}
    assert {"upi", "card", "wallet"} <= loaded, f"the shipped rails must load for this check: {sorted(loaded)}"
    words: set[str] = set(DETAIL_KEYS)
    for rail in rails:
        words |= {rail.method, rail.name}
        words |= set(_struct_names(rail.request_type))
    return words - GENERIC


def _docstrings(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        # attribute docstrings: a string expression statement right after an assignment
        stmts = getattr(node, "body", None)
        for stmt in stmts if isinstance(stmts, list) else ():
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                ids.add(id(stmt.value))
    return ids


def code_words(source: str) -> Iterator[tuple[int, str]]:
    """Every identifier and every word of a non-docstring string literal, with its line."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            yield line, node.id
        elif isinstance(node, ast.Attribute):
            yield line, node.attr
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            yield line, node.arg
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield line, node.name
        elif isinstance(node, ast.alias):
            yield line, node.asname or node.name.split(".")[-1]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for word in _WORD.findall(node.value):
                yield line, word


def _mentions(words: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for folder in CORE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for _, word in code_words(path.read_text()):
                if word in words:
                    found.setdefault(rel, set()).add(word)
    return found


@pytest.mark.unit
def test_no_rail_name_in_the_domain_or_the_application() -> None:
    found = _mentions(rail_vocabulary())
    unexpected = {path: names - ALLOWED.get(path, set()) for path, names in found.items()}
    unexpected = {path: names for path, names in unexpected.items() if names}
    assert not unexpected, f"rail names in the core (move them to the rail or the HTTP adapter): {unexpected}"


@pytest.mark.unit
def test_the_allow_list_only_shrinks() -> None:
    """An allow-list entry no longer needed must go, so the list records what is really left."""
    found = _mentions(rail_vocabulary())
    stale = {path: names - found.get(path, set()) for path, names in ALLOWED.items()}
    stale = {path: names for path, names in stale.items() if names}
    assert not stale, f"remove from ALLOWED, they are gone: {stale}"


@pytest.mark.unit
def test_the_scan_sees_code_but_not_docstrings() -> None:
    source = '''"""Module doc naming senderUpi."""
def f(pan_token):
    """Doc naming wallet_id."""
    # a comment naming receiverUpi
    return {"senderUpi x": pan_token}
'''
    words = {word for _, word in code_words(source)}
    assert {"pan_token", "senderUpi"} <= words
    assert "wallet_id" not in words and "receiverUpi" not in words
