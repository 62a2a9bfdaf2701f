"""The export's lines (docs/ledger.md §4): header, record lines in their other forms, checkpoints, end.

Each line has one exact encoding, re-derived and compared; checkpoints are checked, signatures too
(by the function given: see ``signatures``), and chained from format version 2.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flosspay.domain.chain import (
    CHECKPOINT_TAG,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    EXPORT_VERSIONS,
    GENESIS,
    canonical,
    canonical_object,
    parse_time,
)
from flosspay.ledger_verify.report import AT_START as _AT_START
from flosspay.ledger_verify.state import VerifierState
from flosspay.ledger_verify.values import (
    _is_hex64,
)


class Framing(VerifierState):
    """Lines that are not plain records, and the framing of every line."""

    def _slow_line(self, line: bytes) -> None:
        seq = self._next_seq
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            if self.links:
                self._problem(seq, "a line of the export is not a JSON object")
            return
        if not self.links:
            # The rules half: only what records say; the framing belongs to the other half.
            if "hash" in obj and "format" not in obj and not self._ended:
                self._record_line(obj)
            elif "end" in obj:
                self._ended = self._divert = True
            return
        if self._ended:
            self._problem(seq, "lines after the end line")
            return
        found = len(self.report.problems) + self.report.more_problems
        self._framed_line(obj, line)
        if len(self.report.problems) + self.report.more_problems == found:
            # Nothing else wrong with the line: then it must also be in its one exact form.
            inexact = _inexact(obj, line, self._version)
            if inexact is None:
                pass
            elif "format" in obj:
                self._problem(0, inexact, _AT_START)
            elif "checkpoint" in obj or "end" in obj:
                self._problem(seq - 1, inexact)
            else:
                self._problem(_line_seq(obj, seq), inexact)

    def _framed_line(self, obj: dict[str, Any], line: bytes) -> None:
        seq = self._next_seq
        if self._state_lines is not None:
            if "state" in obj and "format" not in obj:
                self._state_lines.append(line)
                return
            self._state_read()
        if "format" in obj:
            self._header(obj)
        elif not self._seen_header:
            self._problem(0, "the export does not start with its header line", _AT_START)
            self._seen_header = True
            self._slow_line(line)
        elif "checkpoint" in obj:
            self._checkpoint(obj["checkpoint"])
        elif "end" in obj:
            self._end(obj["end"])
        elif "hash" in obj:
            self._record_line(obj)
        else:
            self._problem(seq, "a line of unknown type")

    def _header(self, obj: dict[str, object]) -> None:
        if self._seen_header:
            self._problem(self._next_seq, "a second header line")
            return
        self._seen_header = True
        version = obj.get("version")
        if obj.get("format") != EXPORT_FORMAT or type(version) is not int or version not in EXPORT_VERSIONS:
            self._problem(0, f"not a {EXPORT_FORMAT} version 1 or 2 file", _AT_START)
        else:
            self._version = version
        if obj.get("genesis") != GENESIS.hex():
            self._problem(0, "unexpected genesis value", _AT_START)
        if "since" in obj:
            self._since(obj["since"])

    def _since(self, since: object) -> None:
        """A partial export: it starts after a head the auditor trusts (``start``), with the state there."""
        if not isinstance(since, dict) or type(since.get("seq")) is not int or not isinstance(since.get("hash"), str):
            self._problem(0, "malformed since in the header", _AT_START)
            return
        seq, digest = since["seq"], since["hash"]
        if self.start is None:
            self._problem(
                0, f"a partial export (after seq {seq}) is verified from the signed head it starts at", _AT_START
            )
        elif (seq, digest) != (self.start[0], self.start[1].hex()):
            self._problem(
                0,
                f"the partial export starts after seq {seq} hash {digest}, the head it is verified from is at seq "
                f"{self.start[0]} hash {self.start[1].hex()}",
                _AT_START,
            )
        if not _is_hex64(digest) or seq < 0:
            self._problem(0, "malformed since in the header", _AT_START)
            return
        self._prev, self._next_seq = bytes.fromhex(digest), seq + 1
        self.report.start_seq = seq
        self._state_lines = []
        self._divert = True

    def _state_read(self) -> None:
        """The state lines ended: check them against the head's digest and take them as the state."""
        from flosspay.ledger_verify.snapshot import StateError, load_state, state_digest

        lines, self._state_lines = self._state_lines or [], None
        self._divert = self._ended
        if self.start is not None and state_digest(lines) != self.start[2]:
            self._problem(
                0, "the state the partial export carries differs from the one its signed head names", _AT_START
            )
        try:
            load_state(self, [json.loads(line)["state"] for line in lines])
        except (StateError, ValueError, TypeError) as exc:
            self._problem(0, f"the partial export's state cannot be read: {exc}", _AT_START)

    def _record_line(self, obj: dict[str, object]) -> None:
        """A record line that is not in the plain form: a reported problem, or unusual formatting."""
        values = obj.get("record")
        seq = obj.get("seq")
        if seq is None and isinstance(values, list) and values and type(values[0]) is int:
            seq = values[0]
        stored_hex = obj.get("hash")
        if type(seq) is not int or not isinstance(stored_hex, str) or not _is_hex64(stored_hex):
            if self.links:
                self._problem(self._next_seq, "a record line without a sequence number or a 64-hex-digit hash")
            return
        problem = obj.get("problem")
        said = problem if isinstance(problem, str) else None
        record = None
        if isinstance(values, list):
            try:
                record = canonical(values)
            except (TypeError, ValueError):
                said = said or "the record cannot be encoded canonically"
        elif values is not None:
            said = said or "the record is not a JSON array"
        if self.links:
            if seq != self._next_seq:
                self._gap(seq)
            if record is None:
                self._problem(seq, said or "record missing")
                self._prev = bytes.fromhex(stored_hex)
            else:
                digest = hashlib.sha256(self._prev + record).digest()
                if digest.hex() != stored_hex:
                    self._hash_mismatch(stored_hex.encode())
                else:
                    self._prev = digest
                if said is not None:
                    self._problem(seq, said)
            self._expected_head(seq)
        self._next_seq = seq + 1
        if record is not None and self.rules:
            self._record(seq, record)

    def _expected_head(self, seq: int) -> None:
        wanted = self.expected_heads.get(seq)
        if wanted is not None and wanted != self._prev:
            self._problem(seq, f"the chain hash at seq {seq} differs from the expected head {wanted.hex()}")

    def _checkpoint(self, raw: object) -> None:
        seq = self._next_seq - 1
        if not isinstance(raw, dict):
            self._problem(seq, "malformed checkpoint line")
            return
        self.report.checkpoints += 1
        cp_seq, cp_hash, at, key, signature = (raw.get(k) for k in ("seq", "hash", "at", "key", "signature"))
        prev = raw.get("prev")
        if (
            type(cp_seq) is not int
            or not isinstance(cp_hash, str)
            or not _is_hex64(cp_hash)
            or not isinstance(at, str)
            or (prev is not None and (not isinstance(prev, str) or not _is_hex64(prev)))
        ):
            self._problem(seq, "malformed checkpoint line")
            return
        try:
            parse_time(at)
            values: list[object] = [CHECKPOINT_TAG, cp_seq, cp_hash, at]
            message = canonical([*values, prev] if prev is not None else values)
        except ValueError:
            self._problem(seq, "checkpoint time is malformed")
            return
        named, self._last_checkpoint = self._last_checkpoint, hashlib.sha256(message).digest()
        if prev is not None:
            self._chained_checkpoints = True
            if prev != named.hex():
                self._problem(
                    seq,
                    f"checkpoint at seq {cp_seq} names previous checkpoint {prev}, but the one before it is "
                    f"{named.hex()} (a checkpoint line was removed, added or changed)",
                )
        elif self._chained_checkpoints:
            self._problem(seq, f"checkpoint at seq {cp_seq} names no previous checkpoint, after chained ones")
        if cp_seq != seq:
            self._problem(seq, f"checkpoint for seq {cp_seq} placed after seq {seq}")
            return
        if cp_hash != self._prev.hex():
            self._problem(seq, f"checkpoint at seq {cp_seq} records hash {cp_hash}, the chain has {self._prev.hex()}")
        if signature is None and key is None:
            if self.trusted_keys:
                self._problem(seq, f"checkpoint at seq {cp_seq} is not signed")
            return
        if signature is None or key is None:
            self._problem(
                seq, f"checkpoint at seq {cp_seq} has a key without a signature, or a signature without a key"
            )
            return
        if not isinstance(key, str) or not isinstance(signature, str):
            self._problem(seq, "malformed checkpoint signature")
            return
        try:
            key_bytes, signature_bytes = bytes.fromhex(key), bytes.fromhex(signature)
        except ValueError:
            self._problem(seq, "malformed checkpoint signature")
            return
        if self.trusted_keys and key_bytes not in self.trusted_keys:
            self._problem(seq, f"checkpoint at seq {cp_seq} is signed by key {key}, which is not trusted")
            return
        if self.check_signature is None:
            self.report.unchecked_signatures += 1
            return
        if not self.check_signature(key_bytes, message, signature_bytes):
            self._problem(seq, f"checkpoint at seq {cp_seq}: the signature does not verify")
            return
        self.report.signed_checkpoints += 1

    def _end(self, raw: object) -> None:
        seq = self._next_seq - 1
        self._ended = self._divert = True
        if not isinstance(raw, dict) or type(raw.get("seq")) is not int or not isinstance(raw.get("hash"), str):
            self._problem(seq, "malformed end line")
            return
        if raw["seq"] != seq:
            self._problem(seq, f"the end line says the chain ends at seq {raw['seq']}, but it ends at seq {seq}")
        elif raw["hash"] != self._prev.hex():
            self._problem(seq, "the end line's head hash differs from the chain's")


_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "format": (("format", "version", "genesis", "exportedAt"), ()),
    "state": (("state",), ()),
    "checkpoint": (("checkpoint",), ("seq", "hash", "at", "prev", "key", "signature")),
    "end": (("end",), ("seq", "hash")),
    "problem": (("problem", "seq", "hash", "record"), ()),
    "hash": (("hash", "record"), ()),
}
"""Each kind of export line (by the key that tells it) and its keys, in their one order (docs/ledger.md §4)."""


_V1_CHECKPOINT = ("seq", "hash", "at", "key", "signature")


def _inexact(obj: dict[str, Any], line: bytes, version: int = EXPORT_VERSION) -> str | None:
    """Why ``line`` (parsed as ``obj``) is not in its one exact form, or None if it is."""
    kind = next((k for k in _LAYOUTS if k in obj), None)
    if kind is None:
        return None  # a line of unknown type: reported as such
    keys, inner = _LAYOUTS[kind]
    if kind == "format" and "since" in obj:
        keys, inner = (*keys, "since"), ()
        if not isinstance(obj["since"], dict) or tuple(obj["since"]) != ("seq", "hash"):
            return "a format line's since has exactly the keys seq,hash, in that order"
    if kind == "checkpoint" and version == 1:
        inner = _V1_CHECKPOINT
    if tuple(obj) != keys or (inner and (not isinstance(obj[kind], dict) or tuple(obj[kind]) != inner)):
        shown = ",".join(keys) + (f" {{{','.join(inner)}}}" if inner else "")
        return f"a {kind} line has exactly the keys {shown}, in that order"
    try:
        exact = canonical_object(obj) + b"\n"
    except (TypeError, ValueError):
        return "a line holds a value the export format does not allow"
    if exact != line:
        return "a line is not in its one exact encoding (compact JSON, canonical values, one \\n at the end)"
    return None


def _line_seq(obj: dict[str, Any], fallback: int) -> int:
    """The sequence number a record line names (its ``seq``, else its record's first value)."""
    seq = obj.get("seq")
    values = obj.get("record")
    if type(seq) is not int and isinstance(values, list) and values and type(values[0]) is int:
        seq = values[0]
    return seq if type(seq) is int and seq > 0 else fallback
