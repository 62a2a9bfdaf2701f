"""Verify a chain export line by line: hashes, sequence, balances, legal status paths, checkpoints.

Standard library only, no import from the rest of FlossPay (see ``flosspay.domain.chain``). The
live-database check feeds this same verifier the lines it would export, so "verify the database"
and "verify an export" are one algorithm.

Speed matters (an auditor re-hashes everything): the common record shapes are checked on byte
tokens split out of the canonical record; anything unusual is re-parsed with ``json`` and checked
by the same rules, so the fast path is an optimisation, never a different judgement.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from binascii import hexlify, unhexlify
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

from flosspay.domain.chain import (
    CHECKPOINT_TAG,
    ENTRY,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    EXPORT_VERSIONS,
    GENESIS,
    HISTORY,
    ISO_4217,
    MAX_ACCOUNT_LENGTH,
    PAYMENT_ENTRY_NAMESPACE,
    REFUND_FINAL_STATUSES,
    REFUND_HISTORY,
    REFUND_TRANSITIONS,
    TRANSITIONS,
    canonical,
    canonical_object,
    canonical_value,
    is_canonical_account,
    parse_time,
)

ENTRY_KINDS = ("payment", "reversal", "correction", "refund")

SignatureCheck = Callable[[bytes, bytes, bytes], bool]
"""``(public_key, message, signature) -> valid`` for Ed25519."""

_tok = canonical_value
_LEGAL: frozenset[tuple[bytes, bytes, bytes]] = frozenset(
    (_tok(flow), _tok(a), _tok(b)) for flow, pairs in TRANSITIONS.items() for a, b in pairs
)
_FLOWS = frozenset(_tok(flow) for flow in TRANSITIONS)
_COMPLETED = _tok("COMPLETED")
_ENDED = frozenset(_tok(s) for s in ("FAILED", "DECLINED", "EXPIRED"))
_NULL = b"null"
_HISTORY = _tok(HISTORY)
_ENTRY = _tok(ENTRY)
_PAYMENT, _REVERSAL, _CORRECTION, _REFUND = (_tok(k) for k in ENTRY_KINDS)
_REFUND_LEGAL: frozenset[tuple[bytes, bytes]] = frozenset((_tok(a), _tok(b)) for a, b in REFUND_TRANSITIONS)
_SUCCEEDED = _tok("SUCCEEDED")
_REFUND_FAILED = _tok("FAILED")
_REFUND_ENDED = frozenset(_tok(s) for s in REFUND_FINAL_STATUSES)
_PLAIN_HEAD = b'{"hash":"'
_PLAIN_MID = b'","record":'
_PLAIN_END = b"]}\n"

_CURRENCIES = frozenset(_tok(code) for code in ISO_4217)
_AMOUNT = re.compile(rb"[1-9][0-9]{0,14}")
_ATTEMPT = re.compile(rb"[1-9][0-9]{0,8}")
_TIME_TOKEN = rb'"([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z"'
_TIME = re.compile(_TIME_TOKEN)
_UUID_TOKEN = rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"'
_LAST_STRING = rb'"[^"\\\x00-\x1f]*"\]'
# A history record in the fast form, decided by one match: a lower-case UUID, index, from, to, attempt
# null or 1..999999999, a UTC time, then flow, currency, amount, client and rail (no escape or control
# character; a first row with a comma in either takes the general path), then the reason closing the
# record as one plain string. Groups: 1 payment id, 2 index, 3 from, 4 to, 5 day, 6 the facts prefix
# (flow up to the reason's opening quote), 7 flow, 8 currency, 9 amount, 10 rail.
_FAST_HISTORY = re.compile(
    rb'\[[^,]*,"history",('
    + _UUID_TOKEN
    + rb'),([0-9]+),(null|"[A-Z_]+"),("[A-Z_]+"),(?:null|[1-9][0-9]{0,8}),'
    + _TIME_TOKEN
    + rb',(("[A-Z]+"),("[A-Z]{3}"),([1-9][0-9]{0,14}),"[^"\\\x00-\x1f]*","([^"\\\x00-\x1f]*)",")'
    + _LAST_STRING[1:]
)
_SUFFIX = rb'(,"[A-Z]{3}",-?[0-9]+\])'
_PLAIN_SEGMENT = rb"[A-Za-z0-9._~@-]+"
_PLAIN_ACCOUNT = rb"(" + _PLAIN_SEGMENT + rb"(?::" + _PLAIN_SEGMENT + rb")+)"
_FOUR = rb"\[" + rb",".join([rb'\["' + _PLAIN_ACCOUNT + rb'"' + _SUFFIX] * 4) + rb"\]"
"""Four postings whose accounts need no percent-encoding (a regex with ``%XX`` alternatives is 2x slower)."""
# A payment entry in the fast form: ids, a UTC time, four plain postings, a plain description. Groups:
# 1 entry id, 2 payment id, 3 day, 4 the postings, then (account, ",CUR,amount]") for each of the four.
_FAST_ENTRY = re.compile(
    rb'\[[^,]*,"entry",('
    + _UUID_TOKEN
    + rb'),"payment",('
    + _UUID_TOKEN
    + rb"),null,"
    + _TIME_TOKEN
    + rb",("
    + _FOUR
    + rb"),"
    + _LAST_STRING
)
_HAS_PAYMENT, _REVERSED, _IS_REVERSAL, _IS_REFUND = 1, 2, 4, 8
_PAYMENT_ENTRY_SIZE = 36
"""An entry's value (below) is longer than this for a payment entry only: it also holds the amount."""
_dates: dict[bytes, bool] = {}


def _valid_date(text: bytes) -> bool:
    """``YYYY-MM-DD`` is a real date (cached: an export holds few distinct days)."""
    known = _dates.get(text)
    if known is None:
        try:
            date.fromisoformat(text.decode())
            known = True
        except ValueError:
            known = False
        if len(_dates) < 100_000:
            _dates[text] = known
    return known


def _fast_time(token: bytes) -> bool:
    match = _TIME.fullmatch(token)
    return match is not None and _valid_date(match[1])


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


_ENTRY_SEED = PAYMENT_ENTRY_NAMESPACE.bytes + b"payment:"
_REFUND_SEED = PAYMENT_ENTRY_NAMESPACE.bytes + b"refund:"


def _payment_entry_key(pid: bytes, seed: bytes = _ENTRY_SEED) -> bytes:
    """The 16 bytes of the id of payment ``pid``'s payment entry (``pid`` a token): uuid5, as docs/ledger.md §1 says.

    RFC 4122 §4.3 by hand (SHA-1 of namespace and name, version 5, variant 10): 3 us less than ``uuid``.
    With ``_REFUND_SEED``, the id of refund ``pid``'s refund entry.
    """
    digest = hashlib.sha1(seed + pid[1:-1]).digest()  # noqa: S324 (uuid5 is defined on SHA-1)
    return digest[:6] + bytes((digest[6] & 0x0F | 0x50, digest[7], digest[8] & 0x3F | 0x80)) + digest[9:16]


def _key_token(key: bytes) -> bytes:
    """The canonical UUID token of 16 id bytes."""
    h = hexlify(key)
    return b'"' + h[:8] + b"-" + h[8:12] + b"-" + h[12:16] + b"-" + h[16:20] + b"-" + h[20:] + b'"'


def _payment_entry_token(pid: bytes) -> bytes:
    """The id token of the payment entry of payment ``pid`` (a token)."""
    return _key_token(_payment_entry_key(pid))


_Facts = tuple[bytes, bytes, bytes, bytes, bytes, bytes, bytes]


def _facts(flow: bytes, currency: bytes, amount: bytes, prefix: bytes, rail: str) -> _Facts:
    """``(flow, currency, amount, debit suffix, credit suffix, facts prefix, clearing account)``."""
    debit = b"," + currency + b",-" + amount + b"]"
    credit = b"," + currency + b"," + amount + b"]"
    clearing = _clearing.get(rail)
    if clearing is None:
        clearing = (quote(rail.lower(), safe="@._~-") + ":clearing").encode()
        if len(_clearing) < 1000:
            _clearing[rail] = clearing
    return flow, currency, amount, debit, credit, prefix, clearing


_clearing: dict[str, bytes] = {}


_UUID = re.compile(rb'"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


def _id_key(token: bytes) -> bytes | None:
    """The 16 bytes of a UUID token (``"…"`` in the canonical lower-case form), or None if it is not one."""
    if _UUID.fullmatch(token) is None:
        return None
    return unhexlify(token[1:-1].replace(b"-", b""))


_AT_START = -1.0
_AT_END = float("inf")
_NEXT = {b"%d" % i: b"%d" % (i + 1) for i in range(64)}


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, at which sequence number (0: the export as a whole)."""

    seq: int
    what: str
    rank: float = field(default=0.0, compare=False, repr=False)
    """Where in the file it was found (seq; before or after every record for the export as a whole)."""

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq else self.what


@dataclass
class Report:
    records: int = 0
    """Records in the chain checked, i.e. the head's sequence number."""
    head_seq: int = 0
    head_hash: bytes = GENESIS
    checkpoints: int = 0
    signed_checkpoints: int = 0
    unchecked_signatures: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


class _Bad(Exception):
    """A rule broken by the current record."""


class ChainVerifier:
    """Feed it the export's lines (bytes, with their newline) in order; read the ``Report``.

    ``trusted_keys``: Ed25519 public keys the operator published; when given, every checkpoint must
    be signed by one of them. ``expected_heads``: ``{seq: hash}`` an auditor holds the operator to.
    """

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
    ) -> None:
        """``links``/``rules``: check the chain (hashes, sequence, checkpoints, framing) and/or the
        ledger rules (balances, status paths); two processes can each take one half of a file."""
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

    # --- the loop ---------------------------------------------------------------------------------

    def verify(
        self, lines: Iterable[bytes], progress: Callable[[int], None] | None = None, progress_every: int = 50_000
    ) -> Report:
        """Check every line, then the end of the chain; returns the report (also in ``self.report``)."""
        collecting = gc.isenabled()
        gc.disable()  # nothing here makes reference cycles; a collection per 700 records would cost a lot
        try:
            self._verify(lines, progress, max(1, progress_every))
        finally:
            if collecting:
                gc.enable()
        return self.finish()

    def _verify(self, lines: Iterable[bytes], progress: Callable[[int], None] | None, every: int) -> None:
        sha256 = hashlib.sha256
        payments = self._payments
        entries = self._entries
        finished = self._finished
        finished_add = finished.add
        fast_history = _FAST_HISTORY.fullmatch
        fast_entry = _FAST_ENTRY.fullmatch
        flows = _FLOWS
        currencies = _CURRENCIES
        dates = _dates
        legal = _LEGAL
        ended = _ENDED
        heads = self.expected_heads
        links, rules = self.links, self.rules
        next_progress = self._next_seq - 1 + every
        prev = self._prev
        expected = self._next_seq
        for line in lines:
            if (
                not (line.startswith(_PLAIN_MID, 73) and line.startswith(_PLAIN_HEAD) and line.endswith(_PLAIN_END))
                or self._ended
            ):
                self._prev, self._next_seq = prev, expected
                self._slow_line(line)
                prev, expected = self._prev, self._next_seq
                continue
            record = line[84:-2]
            if links:
                if not line.startswith(b"[%d," % expected, 84):
                    self._prev, self._next_seq = prev, expected
                    self._seq_problem(record)
                    expected = self._next_seq
                digest = sha256(prev + record).digest()
                if line.startswith(hexlify(digest), 9):
                    prev = digest
                else:
                    self._prev, self._next_seq = prev, expected
                    self._hash_mismatch(line[9:73])
                    prev = self._prev
                if heads and expected in heads:
                    self._prev, self._next_seq = prev, expected
                    self._expected_head(expected)
            expected += 1
            if progress is not None and expected > next_progress:
                progress(expected - 1)
                next_progress += every
            if not rules:
                continue
            # The common shapes, each decided by one match; anything else goes to _record (same rules, slower).
            match = fast_history(record)
            if match is not None:
                pid, index, from_, to, day, prefix, flow, currency, amount, rail = match.groups()
                if (dates.get(day) or _valid_date(day)) and (record.isascii() or _utf8(record)):
                    state = payments.get(pid)
                    if state is None:
                        if index == b"0" and from_ == _NULL:
                            key = unhexlify(pid[1:-1].replace(b"-", b""))
                            if (
                                flow in flows
                                and prefix.count(b",") == 5
                                and currency in currencies
                                and (flow, _NULL, to) in legal
                                and key not in finished
                            ):
                                facts = _facts(flow, currency, amount, prefix, rail.decode())
                                payments[pid] = [to, b"1", facts, key]  # a first status is never final
                                continue
                    elif (
                        index == state[1]
                        and from_ == state[0]
                        and prefix == state[2][5]
                        and (state[2][0], from_, to) in legal
                    ):
                        if to in ended:
                            del payments[pid]  # nothing may follow a final status: only its id is kept
                            finished_add(state[3])
                        else:
                            state[0] = to
                            state[1] = _NEXT.get(index) or b"%d" % (int(index) + 1)
                            if to == _COMPLETED:
                                state.append(expected - 1)  # where to report it if its entry never comes
                        continue
            else:
                match = fast_entry(record)
                if match is not None:
                    eid, pid, day, body, *postings = match.groups()
                    state = payments.get(pid)
                    if (
                        state is not None
                        and state[0] == _COMPLETED
                        and (dates.get(day) or _valid_date(day))
                        and (record.isascii() or _utf8(record))
                    ):
                        eid_key = unhexlify(eid[1:-1].replace(b"-", b""))
                        facts = state[2]
                        debit, credit, clearing = facts[3], facts[4], facts[6]
                        payer, payer_end, to_clearing, clearing_in, from_clearing, clearing_out, payee, payee_end = (
                            postings
                        )
                        if (
                            payer_end == debit
                            and clearing_in == credit
                            and clearing_out == debit
                            and payee_end == credit
                            and to_clearing == clearing
                            and from_clearing == clearing
                            and len(payer) <= MAX_ACCOUNT_LENGTH
                            and len(payee) <= MAX_ACCOUNT_LENGTH
                            and eid_key == _payment_entry_key(pid)
                        ):
                            key = state[3]
                            entries[eid_key] = key + b"\x01" + sha256(body).digest()[:16] + facts[1][1:4] + facts[2]
                            del payments[pid]
                            finished_add(key)
                            continue
            self._record(_seq_of(record[: record.find(b",")], expected - 1), record)
        self._prev, self._next_seq = prev, expected

    def finish(self) -> Report:
        report = self.report
        report.records = self._next_seq - 1
        report.head_seq = self._next_seq - 1
        report.head_hash = self._prev
        if self.links:
            if not self._seen_header:
                self._problem(0, "the export has no header line", _AT_END)
            if not self._ended and self._seen_header:
                self._problem(0, "the export has no end line: it is truncated", _AT_END)
            genesis = self.expected_heads.get(0)
            if genesis is not None and genesis != GENESIS:
                self._problem(0, f"the chain hash at seq 0 differs from the expected head {genesis.hex()}", _AT_START)
            for seq in sorted(s for s in self.expected_heads if s > report.head_seq):
                message = f"the chain ends at seq {report.head_seq}, before the expected head at seq {seq}"
                self._problem(0, message, _AT_END)
        if self.rules:
            for pid, state in self._payments.items():
                if state[0] == _COMPLETED:
                    message = (
                        f"payment {_s(pid)} COMPLETED at seq {state[4]}, but its payment entry is not in the chain"
                    )
                    self._problem(0, message, _AT_END)
            for rid, refund in self._refunds.items():
                if refund[0] == _SUCCEEDED:
                    message = f"refund {_s(rid)} SUCCEEDED at seq {refund[7]}, but its refund entry is not in the chain"
                    self._problem(0, message, _AT_END)
        report.problems.sort(key=lambda p: p.rank)  # file order, whichever check found them
        return report

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

    # --- records (the general path) ---------------------------------------------------------------

    def _record(self, seq: int, record: bytes) -> None:
        """Check one record's rules from its parsed JSON; the fast path in ``verify`` agrees with this."""
        self._seq = seq
        try:
            values = json.loads(record)
            if not isinstance(values, list) or len(values) < 2:
                raise _Bad("the record is not a JSON array")
            try:
                canonical_form = canonical(values)
            except (TypeError, ValueError):
                raise _Bad("the record cannot be encoded canonically (a lone surrogate, a fraction?)") from None
            if canonical_form != record:
                self._problem(seq, "the record's bytes are not its canonical encoding (docs/ledger.md §2)")
            if values[1] == HISTORY:
                self._history(values)
            elif values[1] == REFUND_HISTORY:
                self._refund_history(values)
            elif values[1] == ENTRY:
                self._entry(values)
            else:
                raise _Bad(f"unknown record kind {values[1]!r}")
        except _Bad as bad:
            self._problem(seq, str(bad))
            self._settle_refused_entry(record)
        except ValueError:
            self._problem(seq, "the record is not JSON")

    def _settle_refused_entry(self, record: bytes) -> None:
        """A refused payment entry of a COMPLETED payment still ends it: its problem is reported once,
        not again as "COMPLETED without its entry" at the end of the chain."""
        tokens = record.split(b",", 6)
        if len(tokens) < 6 or tokens[1] != _ENTRY:
            return
        if tokens[3] == _REFUND:
            key = _id_key(tokens[2])
            rid = self._refund_waits.pop(key, None) if key is not None else None
            refund = self._refunds.pop(rid, None) if rid is not None else None
            if refund is not None:
                self._refunds_finished.add(refund[3])
            return
        if tokens[3] != _PAYMENT:
            return
        state = self._payments.get(tokens[4])
        if state is not None and state[0] == _COMPLETED:
            del self._payments[tokens[4]]
            self._finished.add(state[3])

    def _history(self, values: list[object]) -> None:
        if len(values) != 14 or not isinstance(values[13], str):
            raise _Bad("a history record has 14 fields, the reason last")
        t = [canonical_value(v) for v in values]
        pid, index, from_, to, flow = t[2], t[3], t[4], t[5], t[8]
        name = _s(pid)
        key = _id_key(pid)
        if key is None:
            raise _Bad(f"payment id {name} is not a lower-case hyphenated UUID")
        if type(values[3]) is not int or values[3] < 0:
            raise _Bad(f"payment {name}: the history index is not an integer >= 0")
        if not (t[6] == _NULL or (type(values[6]) is int and _ATTEMPT.fullmatch(t[6]))):
            raise _Bad(f"payment {name}: the attempt is neither null nor an integer from 1 to 999999999")
        if not _time_value(values[7]):
            raise _Bad(f"payment {name}: the time {_s(t[7])} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        if not all(isinstance(v, str) for v in values[8:10]) or not all(isinstance(v, str) for v in values[11:13]):
            raise _Bad(f"payment {name}: flow, currency, client and rail are strings")
        if type(values[10]) is not int or not _AMOUNT.fullmatch(t[10]):
            raise _Bad(f"payment {name}: the amount is not an integer from 1 to 10^15 - 1")
        if t[9] not in _CURRENCIES:
            raise _Bad(f"payment {name}: {_s(t[9])} is not an ISO 4217 currency")
        prefix = b",".join(t[8:13]) + b',"'
        state = self._payments.get(pid)
        if state is None:
            if key in self._finished:
                raise _Bad(f"payment {name}: a history row after the payment's final status")
            if index != b"0":
                raise _Bad(f"payment {name}: history row {_s(index)} with no earlier rows")
            if from_ != _NULL or flow not in _FLOWS or (flow, from_, to) not in _LEGAL:
                raise _Bad(f"payment {name}: a {_s(flow)} payment cannot start in {_s(to)}")
            state = [to, b"1", _facts(t[8], t[9], t[10], prefix, str(values[12])), key]
        else:
            if index != state[1]:
                raise _Bad(f"payment {name}: history row {_s(index)} where row {_s(state[1])} belongs")
            if prefix != state[2][5]:
                raise _Bad(f"payment {name}: flow, amount, client or rail differ from the payment's first row")
            if from_ != state[0]:
                raise _Bad(f"payment {name}: row says from {_s(from_)} but the payment was {_s(state[0])}")
            if (flow, from_, to) not in _LEGAL:
                raise _Bad(f"payment {name}: illegal transition {_s(from_)} -> {_s(to)} for a {_s(flow)} payment")
            state[0] = to
            state[1] = b"%d" % (int(index) + 1)
        if to in _ENDED:
            self._payments.pop(pid, None)
            self._finished.add(key)
        else:
            self._payments[pid] = state
            if to == _COMPLETED:
                state.append(self._seq)

    def _entry(self, values: list[object]) -> None:
        if len(values) != 9 or not isinstance(values[7], list) or not isinstance(values[8], str):
            raise _Bad("an entry record has 9 fields, the postings 8th and the description last")
        h = [canonical_value(v) for v in values[:7]]
        eid, kind, pid, ref = h[2], h[3], h[4], h[5]
        name = _s(eid)
        key = _id_key(eid)
        if key is None:
            raise _Bad(f"entry id {name} is not a lower-case hyphenated UUID")
        pid_key = bytes(16) if pid == _NULL else _id_key(pid)
        ref_key = None if ref == _NULL else _id_key(ref)
        if pid_key is None or (ref != _NULL and ref_key is None):
            raise _Bad(f"entry {name}: the payment id and the referenced entry id are UUIDs or null")
        if kind not in (_PAYMENT, _REVERSAL, _CORRECTION, _REFUND):
            raise _Bad(f"entry {name}: unknown kind {_s(kind)}")
        if not _time_value(values[6]):
            raise _Bad(f"entry {name}: the time {_s(h[6])} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        postings: list[tuple[str, str, int]] = []
        for posting in values[7]:
            if (
                not isinstance(posting, list)
                or len(posting) != 3
                or not isinstance(posting[0], str)
                or not isinstance(posting[1], str)
                or type(posting[2]) is not int
                or posting[2] == 0
            ):
                raise _Bad(f"entry {name}: a posting is [account, currency, non-zero integer amount]")
            if not is_canonical_account(posting[0]):
                raise _Bad(f"entry {name}: {posting[0]!r} is not an account name in its canonical spelling")
            if posting[1] not in ISO_4217:
                raise _Bad(f"entry {name}: {posting[1]!r} is not an ISO 4217 currency")
            if not -(10**15) < posting[2] < 10**15:
                raise _Bad(f"entry {name}: a posting's amount is 10^15 or more")
            postings.append((posting[0], posting[1], posting[2]))
        if len(postings) < 2:
            raise _Bad(f"entry {name}: fewer than two postings")
        sums: dict[str, int] = {}
        for _, currency, amount in postings:
            sums[currency] = sums.get(currency, 0) + amount
        for currency, total in sums.items():
            if total:
                raise _Bad(f"entry {name}: postings in {currency} sum to {total}, not 0 (unbalanced)")
        if key in self._entries:
            raise _Bad(f"entry {name}: chained twice")
        flags = 0 if pid == _NULL else _HAS_PAYMENT
        extra = b""
        if kind == _PAYMENT:
            self._payment_entry(name, eid, pid, ref, postings)
            extra = postings[-1][1].encode() + b"%d" % postings[-1][2]
        else:
            if ref_key is None:
                raise _Bad(f"entry {name}: a {_s(kind)} must reference the entry it changes")
            original = self._entries.get(ref_key)
            if original is None:
                raise _Bad(f"entry {name}: references entry {_s(ref)}, which is not earlier in the chain")
            if kind == _REVERSAL:
                if original[16] & _IS_REVERSAL:
                    raise _Bad(f"entry {name}: entry {_s(ref)} is itself a reversal, and a reversal is not reversed")
                if original[16] & _IS_REFUND:
                    raise _Bad(f"entry {name}: entry {_s(ref)} is a refund, and a refund is not reversed")
                if original[16] & _REVERSED:
                    raise _Bad(f"entry {name}: entry {_s(ref)} is reversed twice")
            if original[:16] != pid_key or original[16] & _HAS_PAYMENT != flags:
                raise _Bad(
                    f"entry {name}: a {_s(kind)} names the payment of entry {_s(ref)} (or none if it names none); "
                    "this one does not"
                )
            if kind == _REVERSAL:
                self._reversal(name, ref, ref_key, original, postings)
                flags |= _IS_REVERSAL
            elif kind == _REFUND:
                self._refund_entry(name, key, ref, ref_key, original, postings)
                flags |= _IS_REFUND
        digest = hashlib.sha256(canonical([list(p) for p in postings])).digest()[:16]
        self._entries[key] = pid_key + bytes([flags]) + digest + extra

    def _reversal(
        self, name: str, ref: bytes, ref_key: bytes, original: bytes, postings: list[tuple[str, str, int]]
    ) -> None:
        """A reversal negates each posting of the entry, in order; of a partly refunded payment entry,
        with what its refunds left in place of its amount."""
        refunded = self._refunded.get(ref_key, 0)
        undone_postings: list[object] = [[account, currency, -amount] for account, currency, amount in postings]
        if refunded:
            whole = int(original[_PAYMENT_ENTRY_SIZE:])
            left = whole - refunded
            if left <= 0:
                raise _Bad(f"entry {name}: entry {_s(ref)} is refunded in full: nothing is left to reverse")
            if any(abs(amount) != left for _, _, amount in postings):
                raise _Bad(f"entry {name}: a reversal of entry {_s(ref)}, refunded in part, moves what is left: {left}")
            undone_postings = [
                [account, currency, whole if amount < 0 else -whole] for account, currency, amount in postings
            ]
        if hashlib.sha256(canonical(undone_postings)).digest()[:16] != original[17:33]:
            raise _Bad(f"entry {name}: a reversal negates each posting of entry {_s(ref)}, in order; this one does not")
        self._entries[ref_key] = original[:16] + bytes([original[16] | _REVERSED]) + original[17:]

    def _refund_entry(
        self, name: str, key: bytes, ref: bytes, ref_key: bytes, original: bytes, postings: list[tuple[str, str, int]]
    ) -> None:
        """A refund entry is the entry of a refund that SUCCEEDED just before, given back along its
        payment entry's accounts, never more than the payment entry moved and never after a reversal."""
        rid = self._refund_waits.get(key)
        if rid is None:
            raise _Bad(
                f"entry {name}: a refund entry has the id of the entry of a refund that SUCCEEDED earlier in the "
                "chain and has no entry yet; no refund does"
            )
        refund = self._refunds[rid]
        if len(original) <= _PAYMENT_ENTRY_SIZE or ref_key != refund[6]:
            raise _Bad(f"entry {name}: a refund entry references the payment entry of its refund's payment")
        del self._refund_waits[key]
        del self._refunds[rid]
        self._refunds_finished.add(refund[3])
        if original[16] & _REVERSED:
            raise _Bad(f"entry {name}: entry {_s(ref)} is reversed: nothing is refunded after a reversal")
        amount, currency = refund[5], original[33:36].decode()
        signs = [a < 0 for _, _, a in postings]
        if (
            len(postings) != 4
            or signs != [True, False, True, False]
            or postings[1][0] != postings[2][0]
            or any(c != currency or abs(a) != amount for _, c, a in postings)
        ):
            raise _Bad(
                f"entry {name}: a refund entry posts four lines of the refund's {amount} {currency}: "
                "payee -x, clearing +x, clearing -x, payer +x"
            )
        whole = int(original[_PAYMENT_ENTRY_SIZE:])
        paid: list[object] = [
            [postings[3][0], currency, -whole],
            [postings[1][0], currency, whole],
            [postings[1][0], currency, -whole],
            [postings[0][0], currency, whole],
        ]
        if hashlib.sha256(canonical(paid)).digest()[:16] != original[17:33]:
            raise _Bad(f"entry {name}: a refund entry moves money back along the accounts of entry {_s(ref)}")
        refunded = self._refunded.get(ref_key, 0) + amount
        if refunded > whole:
            raise _Bad(f"entry {name}: refunds of entry {_s(ref)} reach {refunded}, more than its {whole}")
        self._refunded[ref_key] = refunded

    def _refund_history(self, values: list[object]) -> None:
        if len(values) != 13 or not isinstance(values[12], str):
            raise _Bad("a refund history record has 13 fields, the reason last")
        t = [canonical_value(v) for v in values]
        rid, index, from_, to, pid = t[2], t[3], t[4], t[5], t[8]
        name = _s(rid)
        key = _id_key(rid)
        if key is None:
            raise _Bad(f"refund id {name} is not a lower-case hyphenated UUID")
        if type(values[3]) is not int or values[3] < 0:
            raise _Bad(f"refund {name}: the history index is not an integer >= 0")
        if not (t[6] == _NULL or (type(values[6]) is int and _ATTEMPT.fullmatch(t[6]))):
            raise _Bad(f"refund {name}: the attempt is neither null nor an integer from 1 to 999999999")
        if not _time_value(values[7]):
            raise _Bad(f"refund {name}: the time {_s(t[7])} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
        if _id_key(pid) is None:
            raise _Bad(f"refund {name}: payment id {_s(pid)} is not a lower-case hyphenated UUID")
        if not isinstance(values[9], str) or not isinstance(values[11], str):
            raise _Bad(f"refund {name}: currency and client are strings")
        if t[9] not in _CURRENCIES:
            raise _Bad(f"refund {name}: {_s(t[9])} is not an ISO 4217 currency")
        if type(values[10]) is not int or not _AMOUNT.fullmatch(t[10]):
            raise _Bad(f"refund {name}: the amount is not an integer from 1 to 10^15 - 1")
        prefix = b",".join(t[8:12])
        state = self._refunds.get(rid)
        if state is None:
            if key in self._refunds_finished:
                raise _Bad(f"refund {name}: a history row after the refund's final status")
            if index != b"0":
                raise _Bad(f"refund {name}: history row {_s(index)} with no earlier rows")
            if from_ != _NULL or (from_, to) not in _REFUND_LEGAL:
                raise _Bad(f"refund {name}: a refund cannot start in {_s(to)}")
            entry_key = _payment_entry_key(pid)
            original = self._entries.get(entry_key)
            if original is None:
                raise _Bad(f"refund {name}: payment {_s(pid)} has no payment entry earlier in the chain")
            if original[16] & _REVERSED:
                raise _Bad(f"refund {name}: payment {_s(pid)} is reversed: nothing is refunded after a reversal")
            if original[33:36] != t[9][1:-1]:
                raise _Bad(f"refund {name}: the refund's currency is not its payment's {original[33:36].decode()}")
            amount, whole = int(values[10]), int(original[_PAYMENT_ENTRY_SIZE:])
            reserved = self._reserved.get(entry_key, 0) + amount
            if reserved > whole:
                raise _Bad(
                    f"refund {name}: pending and succeeded refunds of payment {_s(pid)} would hold {reserved}, "
                    f"more than its {whole}"
                )
            self._reserved[entry_key] = reserved
            state = [to, b"1", prefix, key, pid, amount, entry_key, 0]
            self._refunds[rid] = state
        else:
            if state[0] == _SUCCEEDED:
                raise _Bad(f"refund {name}: a history row after the refund's final status")
            if index != state[1]:
                raise _Bad(f"refund {name}: history row {_s(index)} where row {_s(state[1])} belongs")
            if prefix != state[2]:
                raise _Bad(f"refund {name}: payment, currency, amount or client differ from the refund's first row")
            if from_ != state[0]:
                raise _Bad(f"refund {name}: row says from {_s(from_)} but the refund was {_s(state[0])}")
            if (from_, to) not in _REFUND_LEGAL:
                raise _Bad(f"refund {name}: illegal transition {_s(from_)} -> {_s(to)} for a refund")
            state[0] = to
            state[1] = b"%d" % (int(index) + 1)
        if to == _REFUND_FAILED:
            self._reserved[state[6]] -= state[5]
            del self._refunds[rid]
            self._refunds_finished.add(key)
        elif to == _SUCCEEDED:
            state[7] = self._seq
            self._refund_waits[_payment_entry_key(rid, _REFUND_SEED)] = rid

    def _payment_entry(
        self, name: str, eid: bytes, pid: bytes, ref: bytes, postings: list[tuple[str, str, int]]
    ) -> None:
        if pid == _NULL or ref != _NULL:
            raise _Bad(f"entry {name}: a payment entry names its payment and references no entry")
        state = self._payments.get(pid)
        if state is None or state[0] != _COMPLETED:
            raise _Bad(f"entry {name}: payment {_s(pid)} has not COMPLETED earlier in the chain, or has its entry")
        currency, amount = _s(state[2][1]), int(state[2][2])
        for account, posting_currency, posting_amount in postings:
            if posting_currency != currency or abs(posting_amount) != amount:
                raise _Bad(
                    f"entry {name}: posting of {posting_amount} {posting_currency} to {account} "
                    f"does not move the payment's {amount} {currency}"
                )
        clearing = state[2][6].decode()
        signs = [amount < 0 for _, _, amount in postings]
        if len(postings) != 4 or signs != [True, False, True, False] or {postings[1][0], postings[2][0]} != {clearing}:
            raise _Bad(
                f"entry {name}: a payment entry posts four lines: payer -a, {clearing} +a, {clearing} -a, payee +a"
            )
        if eid != _payment_entry_token(pid):
            raise _Bad(f"entry {name}: the payment entry of payment {_s(pid)} has id {_s(_payment_entry_token(pid))}")
        del self._payments[pid]  # one payment entry per payment: a second one is refused above
        self._finished.add(state[3])

    # --- other lines ------------------------------------------------------------------------------

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
                self._ended = True
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
        self._ended = True
        if not isinstance(raw, dict) or type(raw.get("seq")) is not int or not isinstance(raw.get("hash"), str):
            self._problem(seq, "malformed end line")
            return
        if raw["seq"] != seq:
            self._problem(seq, f"the end line says the chain ends at seq {raw['seq']}, but it ends at seq {seq}")
        elif raw["hash"] != self._prev.hex():
            self._problem(seq, "the end line's head hash differs from the chain's")


_LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "format": (("format", "version", "genesis", "exportedAt"), ()),
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


def _time_value(value: object) -> bool:
    """A parsed time field: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, a real moment."""
    return isinstance(value, str) and value.isascii() and _fast_time(_tok(value))


def _seq_of(token: bytes, fallback: int) -> int:
    """The record's own sequence number from its first token (``[12``), for placing a problem."""
    digits = token[1:]
    return int(digits) if digits.isdigit() and len(digits) < 19 else fallback


def _s(token: bytes) -> str:
    """A token for a message: strings without their quotes."""
    return token.decode(errors="replace").strip('"')


def _is_hex64(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def verify_lines(
    lines: Iterable[bytes],
    *,
    check_signature: SignatureCheck | None = None,
    trusted_keys: Iterable[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    max_problems: int = 100,
) -> Report:
    """Verify an export given as lines of bytes (each ending in a newline)."""
    verifier = ChainVerifier(
        check_signature=check_signature,
        trusted_keys=trusted_keys,
        expected_heads=expected_heads,
        max_problems=max_problems,
    )
    return verifier.verify(lines, progress)


def describe(report: Report) -> str:
    """A short human summary of a report (the first problem first)."""
    head = f"head seq {report.head_seq} hash {report.head_hash.hex()}"
    checkpoints = f"{report.checkpoints} checkpoint(s), {report.signed_checkpoints} with a verified signature"
    if report.unchecked_signatures:
        checkpoints += f", {report.unchecked_signatures} signature(s) not checked"
    if report.ok:
        return f"ledger OK: {report.records} records, {head}; {checkpoints}"
    first = report.problems[0]
    where = f"at seq {first.seq}" if first.seq else "in the export"
    lines = [f"ledger verification FAILED {where}: {first.what}"]
    lines += [f"  also: {p}" for p in report.problems[1:]]
    if report.more_problems:
        lines.append(f"  ... and {report.more_problems} more problem(s)")
    lines.append(f"checked {report.records} records, {head}; {checkpoints}")
    return "\n".join(lines)


def merge_reports(links: Report, rules: Report, max_problems: int = 100) -> Report:
    """One report from the two halves of a split verification (chain checks and ledger rules)."""
    problems = sorted([*links.problems, *rules.problems], key=lambda p: p.rank)
    return Report(
        records=links.records,
        head_seq=links.head_seq,
        head_hash=links.head_hash,
        checkpoints=links.checkpoints,
        signed_checkpoints=links.signed_checkpoints,
        unchecked_signatures=links.unchecked_signatures,
        problems=problems[:max_problems],
        more_problems=links.more_problems + rules.more_problems + max(0, len(problems) - max_problems),
    )
