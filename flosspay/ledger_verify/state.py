"""The verifier's state, and the one place problems are recorded; the other modules add the checks."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from flosspay.domain.chain import (
    EXPORT_VERSION,
    GENESIS,
)
from flosspay.ledger_verify.report import Problem, Report
from flosspay.ledger_verify.spill import SpillStore
from flosspay.ledger_verify.values import (
    SignatureCheck,
)

MEMORY_ITEMS = 1_000_000
"""Ended payments (and, separately, entries) kept in memory before they move to disk: ~150 MB at most."""


class VerifierState:
    """State shared by the fast path, the framing checks and the rules (see ``ChainVerifier``)."""

    def __init__(
        self,
        *,
        check_signature: SignatureCheck | None = None,
        trusted_keys: Iterable[bytes] = (),
        expected_heads: dict[int, bytes] | None = None,
        max_problems: int = 100,
        require_header: bool = True,
        links: bool = True,
        rules: bool = True,
        start: tuple[int, bytes, bytes] | None = None,
        expected_states: dict[int, bytes] | None = None,
        open_end: bool = False,
        memory_items: int = MEMORY_ITEMS,
    ) -> None:
        """``links``/``rules``: check the chain (hashes, sequence, checkpoints, framing) and/or the
        ledger rules (balances, status paths); two processes can each take one half of a file.
        ``start``: ``(seq, hash, state digest)`` of a signed head a partial export starts at;
        ``expected_states``: ``{seq: state digest}`` the chain's state must have there (the end).
        ``memory_items``: ended payments and entries kept in memory before they move to disk."""
        self.links = links
        self.rules = rules
        self.check_signature = check_signature
        self.trusted_keys = frozenset(trusted_keys)
        self.expected_heads = dict(expected_heads or {})
        self.max_problems = max_problems
        self.report = Report()
        self._prev = GENESIS
        self._next_seq = 1
        self._payments: dict[bytes, list[Any]] = {}
        """Open payments: payment id token -> ``[status token, next index token, facts, id key]``."""
        self._finished: set[bytes] = set()
        """Payments that ended (FAILED, DECLINED, EXPIRED, or COMPLETED with their entry): nothing may follow."""
        self._entries: dict[bytes, bytes] = {}
        """Entry id -> payment id (16 bytes, zeros for none), flags, the first 16 bytes of SHA-256 of the
        canonical postings: what a reversal must undo and which payment a reversal or correction names;
        for a payment entry then its currency (3 bytes) and amount (ASCII digits), what refunds may take."""
        self._refunds: dict[bytes, list[Any]] = {}
        """Open refunds (and SUCCEEDED ones awaiting their entry): refund id token -> ``[status token, next
        index token, facts token prefix, id key, payment id token, amount, payment entry key, seq]``."""
        self._refunds_finished: set[bytes] = set()
        """Refunds that ended (FAILED, or SUCCEEDED with their entry): nothing may follow."""
        self._refund_waits: dict[bytes, bytes] = {}
        """Refund entry id (16 bytes) -> the token of the SUCCEEDED refund whose entry it must be."""
        self._reserved: dict[bytes, int] = {}
        """Payment entry id -> the amount its pending, processing and succeeded refunds hold."""
        self._refunded: dict[bytes, int] = {}
        """Payment entry id -> the amount its refund entries gave back."""
        self._seq = 0
        self._version = EXPORT_VERSION
        self._last_checkpoint = GENESIS
        """The digest of the last checkpoint line (GENESIS before the first): what the next one names."""
        self._chained_checkpoints = False
        """A checkpoint naming its predecessor was seen: every later one must name its predecessor too."""
        self._seen_header = not require_header
        self._ended = False
        self._divert = False
        """Every line takes the general path (after the end line, or while a partial export's state is read)."""
        self.start = start
        self.expected_states = dict(expected_states or {})
        self.open_end = open_end
        self.memory_items = memory_items
        self._spill: SpillStore | None = None
        """Ended payments' ids and entries moved out of memory (None until the first move)."""
        """The chain goes on after these lines (a state being taken): an entry still to come is no problem."""
        self._state_lines: list[bytes] | None = None
        """A partial export's state lines, while they are read (None: not reading them)."""

    # --- problems ---------------------------------------------------------------------------------

    def _problem(self, seq: int, what: str, rank: float | None = None) -> None:
        if len(self.report.problems) < self.max_problems:
            self.report.problems.append(Problem(seq, what, float(seq) if rank is None else rank))
        else:
            self.report.more_problems += 1

    def _hash_mismatch(self, stored_hex: bytes) -> None:
        """Report it, then carry on from the stored hash so one bad record is reported once."""
        self._problem(self._next_seq, "hash mismatch: this record or its link was changed after it was chained")
        try:
            self._prev = bytes.fromhex(stored_hex.decode())
        except ValueError:
            self._problem(self._next_seq, "the stored hash is not 64 hex digits")

    def _seq_problem(self, record: bytes) -> None:
        expected = self._next_seq
        try:
            found = json.loads(record)[0]
        except (ValueError, TypeError, IndexError, KeyError):
            found = None
        if type(found) is not int:
            self._problem(expected, "the record does not start with its sequence number")
            return
        self._gap(found)

    def _gap(self, found: int) -> None:
        expected = self._next_seq
        if found > expected:
            missing = f"seq {expected}" if found == expected + 1 else f"seq {expected}..{found - 1}"
            self._problem(expected, f"sequence gap: {missing} missing (next record is seq {found})")
        else:
            self._problem(expected, f"sequence out of order: found seq {found} where seq {expected} belongs")
        self._next_seq = found

    # --- ended payments and entries, in memory or on disk ----------------------------------------------

    def _spill_now(self) -> None:
        """Move every ended payment's id and every entry to disk (the in-memory containers stay, empty)."""
        if self._spill is None:
            self._spill = SpillStore()
        self._spill.add_finished(self._finished)
        self._spill.put_entries(self._entries.items())
        self._finished.clear()
        self._entries.clear()

    def _is_finished(self, key: bytes) -> bool:
        return key in self._finished or (self._spill is not None and self._spill.has_finished(key))

    def _entry_value(self, key: bytes) -> bytes | None:
        found = self._entries.get(key)
        if found is None and self._spill is not None:
            found = self._spill.entry(key)
        return found

    def _all_finished(self) -> Iterator[bytes]:
        """Every ended payment's id, in byte order."""
        if self._spill is None:
            yield from sorted(self._finished)
            return
        self._spill_now()
        yield from self._spill.finished()

    def _all_entries(self) -> Iterator[tuple[bytes, bytes]]:
        """Every entry, in byte order of its id."""
        if self._spill is None:
            yield from sorted(self._entries.items())
            return
        self._spill_now()
        yield from self._spill.entries()

    # --- implemented by the other parts -----------------------------------------------------------

    def _record(self, seq: int, record: bytes) -> None:
        raise NotImplementedError

    def _slow_line(self, line: bytes) -> None:
        raise NotImplementedError

    def _expected_head(self, seq: int) -> None:
        raise NotImplementedError
