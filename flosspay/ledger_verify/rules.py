"""The ledger rules on one record, from its parsed JSON (the general path): docs/ledger.md §5."""

from __future__ import annotations

import hashlib
import json

from flosspay.domain.chain import (
    ENTRY,
    HISTORY,
    ISO_4217,
    REFUND_HISTORY,
    canonical,
    canonical_value,
    is_canonical_account,
)
from flosspay.ledger_verify.state import VerifierState
from flosspay.ledger_verify.values import (
    _AMOUNT,
    _ATTEMPT,
    _COMPLETED,
    _CORRECTION,
    _CURRENCIES,
    _ENDED,
    _ENTRY,
    _FLOWS,
    _HAS_PAYMENT,
    _IS_REFUND,
    _IS_REVERSAL,
    _LEGAL,
    _NULL,
    _PAYMENT,
    _PAYMENT_ENTRY_SIZE,
    _REFUND,
    _REFUND_FAILED,
    _REFUND_LEGAL,
    _REFUND_SEED,
    _REVERSAL,
    _REVERSED,
    _SUCCEEDED,
    _Bad,
    _facts,
    _id_key,
    _payment_entry_key,
    _payment_entry_token,
    _s,
    _time_value,
)


class Rules(VerifierState):
    """History rows, refund history rows and entries, each against what came before it."""

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
            if self._is_finished(key):
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
        if self._entry_value(key) is not None:
            raise _Bad(f"entry {name}: chained twice")
        flags = 0 if pid == _NULL else _HAS_PAYMENT
        extra = b""
        if kind == _PAYMENT:
            self._payment_entry(name, eid, pid, ref, postings)
            extra = postings[-1][1].encode() + b"%d" % postings[-1][2]
        else:
            if ref_key is None:
                raise _Bad(f"entry {name}: a {_s(kind)} must reference the entry it changes")
            original = self._entry_value(ref_key)
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
            original = self._entry_value(entry_key)
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
