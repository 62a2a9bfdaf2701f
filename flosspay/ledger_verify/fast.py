"""The fast path: the common record shapes decided by one regular-expression match each.

Anything else goes to the general path (``rules``), which judges it by the same rules: the fast
path is an optimisation, never a different judgement.
"""

from __future__ import annotations

import hashlib
import re
from binascii import hexlify, unhexlify
from collections.abc import Callable, Iterable

from flosspay.domain.chain import (
    MAX_ACCOUNT_LENGTH,
)
from flosspay.ledger_verify.state import VerifierState
from flosspay.ledger_verify.values import (
    _COMPLETED,
    _CURRENCIES,
    _ENDED,
    _FLOWS,
    _LEGAL,
    _NEXT,
    _NULL,
    _TIME_TOKEN,
    _UUID_TOKEN,
    _dates,
    _facts,
    _payment_entry_key,
    _seq_of,
    _utf8,
    _valid_date,
)

_PLAIN_HEAD = b'{"hash":"'
_PLAIN_MID = b'","record":'
_PLAIN_END = b"]}\n"
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


_SPILL_CHECK_EVERY = 4096
"""Records between two looks at how much the verifier holds in memory."""


class FastPath(VerifierState):
    """The loop over the lines: plain record lines in the common shapes are checked here."""

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
        spill = self._spill
        memory_items = self.memory_items
        spill_every = max(1, min(_SPILL_CHECK_EVERY, memory_items))
        next_spill_check = self._next_seq + spill_every
        prev = self._prev
        expected = self._next_seq
        for line in lines:
            if (
                not (line.startswith(_PLAIN_MID, 73) and line.startswith(_PLAIN_HEAD) and line.endswith(_PLAIN_END))
                or self._divert
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
            if expected > next_spill_check:
                next_spill_check += spill_every
                if len(finished) > memory_items or len(entries) > memory_items:
                    self._spill_now()  # bounded memory: ended ids and entries move to disk
                    spill = self._spill
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
                                and (spill is None or not spill.has_finished(key))
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
