"""The verifier's state at a sequence number, as lines a partial export carries (docs/ledger.md §4).

What the rules need to go on from seq S without the records before it: the payments and refunds
still open, the ids of those that ended, every entry (a later reversal, correction or refund may
reference it, and a reversal after refunds must know what they left), what refunds hold of each
payment entry, and where the checkpoints' chain stands. Each item is one line
``{"state":[kind, …]}``, in a fixed order, so the state has one encoding and one digest (SHA-256
of the lines), which a signed head statement commits to.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from flosspay.domain.chain import canonical_object, canonical_value
from flosspay.ledger_verify.state import VerifierState
from flosspay.ledger_verify.values import _REFUND_SEED, _facts, _payment_entry_key

STATE_KINDS = ("payment", "finished", "entry", "refund", "refund_finished", "held", "checkpoints")
"""The kinds of state line, in the order they appear; within a kind, ordered by id."""


class StateError(ValueError):
    """A state line that does not parse as its kind's fields."""


def _uuid(key: bytes) -> str:
    return str(uuid.UUID(bytes=key))


def _key(text: object) -> bytes:
    if not isinstance(text, str) or text != str(uuid.UUID(text)):
        raise StateError(f"not a lower-case UUID: {text!r}")
    return uuid.UUID(text).bytes


def _token_text(token: bytes) -> Any:
    return json.loads(token)


def state_items(verifier: VerifierState) -> list[list[object]]:
    """The state as arrays of plain values (docs/ledger.md §4 lists their fields)."""
    items: list[list[object]] = []
    for pid, state in sorted(verifier._payments.items(), key=lambda kv: kv[0]):
        flow, currency, amount, client, rail = json.loads(b"[" + state[2][5][:-2] + b"]")
        completed = state[4] if len(state) > 4 else None
        status, index = _token_text(state[0]), int(state[1])
        items.append(["payment", _token_text(pid), status, index, flow, currency, amount, client, rail, completed])
    items += [["finished", _uuid(key)] for key in verifier._all_finished()]
    for key, value in verifier._all_entries():
        flags = value[16]
        named = _uuid(value[:16]) if flags & 1 else None
        currency = value[33:36].decode() if len(value) > 36 else None
        amount = int(value[36:]) if len(value) > 36 else None
        items.append(["entry", _uuid(key), named, flags, value[17:33].hex(), currency, amount])
    for rid, refund in sorted(verifier._refunds.items(), key=lambda kv: kv[0]):
        pid, currency, amount, client = json.loads(b"[" + refund[2] + b"]")
        succeeded = refund[7] if _token_text(refund[0]) == "SUCCEEDED" else None
        status, index = _token_text(refund[0]), int(refund[1])
        items.append(["refund", _token_text(rid), status, index, pid, currency, amount, client, succeeded])
    items += [["refund_finished", _uuid(key)] for key in sorted(verifier._refunds_finished)]
    for key in sorted(set(verifier._reserved) | set(verifier._refunded)):
        reserved, refunded = verifier._reserved.get(key, 0), verifier._refunded.get(key, 0)
        if reserved or refunded:
            items.append(["held", _uuid(key), reserved, refunded])
    items.append(["checkpoints", verifier._last_checkpoint.hex(), int(verifier._chained_checkpoints)])
    return items


def state_lines(verifier: VerifierState) -> list[bytes]:
    """The state's lines, each ``{"state":[…]}`` and a newline."""
    return [canonical_object({"state": item}) + b"\n" for item in state_items(verifier)]


def state_digest(lines: list[bytes]) -> bytes:
    """SHA-256 of the state lines, as a signed head statement names it."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line)
    return digest.digest()


def load_state(verifier: VerifierState, items: list[list[Any]]) -> None:
    """Set ``verifier``'s state from ``items`` (as ``state_items`` gives them); raises StateError."""
    try:
        for item in items:
            _load(verifier, item)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
        raise StateError(f"a state line does not hold its fields: {exc}") from None


def _load(verifier: VerifierState, item: list[Any]) -> None:
    kind = item[0]
    tok = canonical_value
    if kind == "payment":
        _, pid, status, index, flow, currency, amount, client, rail, completed = item
        key = _key(pid)
        prefix = b",".join(tok(v) for v in (flow, currency, amount, client, rail)) + b',"'
        state: list[Any] = [
            tok(status),
            b"%d" % index,
            _facts(tok(flow), tok(currency), tok(amount), prefix, rail),
            key,
        ]
        if completed is not None:
            state.append(int(completed))
        verifier._payments[tok(pid)] = state
    elif kind == "finished":
        verifier._finished.add(_key(item[1]))
    elif kind == "entry":
        _, eid, pid, flags, digest, currency, amount = item
        value = (_key(pid) if pid is not None else bytes(16)) + bytes([flags]) + bytes.fromhex(digest)
        if len(value) != 33:
            raise StateError("an entry's postings digest is 32 hex digits")
        if currency is not None:
            value += currency.encode() + b"%d" % amount
        verifier._entries[_key(eid)] = value
    elif kind == "refund":
        _, rid, status, index, pid, currency, amount, client, succeeded = item
        prefix = b",".join(tok(v) for v in (pid, currency, amount, client))
        entry_key = _payment_entry_key(tok(pid))
        state = [tok(status), b"%d" % index, prefix, _key(rid), tok(pid), int(amount), entry_key, succeeded or 0]
        verifier._refunds[tok(rid)] = state
        if status == "SUCCEEDED":
            verifier._refund_waits[_payment_entry_key(tok(rid), _REFUND_SEED)] = tok(rid)
    elif kind == "refund_finished":
        verifier._refunds_finished.add(_key(item[1]))
    elif kind == "held":
        _, eid, reserved, refunded = item
        if reserved:
            verifier._reserved[_key(eid)] = int(reserved)
        if refunded:
            verifier._refunded[_key(eid)] = int(refunded)
    elif kind == "checkpoints":
        verifier._last_checkpoint = bytes.fromhex(item[1])
        verifier._chained_checkpoints = bool(item[2])
    else:
        raise StateError(f"unknown state kind {kind!r}")
