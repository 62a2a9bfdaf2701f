"""In-memory fakes of the domain's ports, for unit tests of the domain and the use cases."""

from __future__ import annotations

import copy
import threading
import types
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

import msgspec

from flosspay.domain.bucket import BucketLimit
from flosspay.domain.chain import (
    GENESIS,
    ChainedRecord,
    ChainHead,
    ChainLink,
    Checkpoint,
    Facts,
    Pending,
    RefundHistoryFacts,
)
from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import ConcurrentUpdate, FieldError, ValidationFailed
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.ledger import EntryKind, JournalEntry, LedgerError, balance, history_facts
from flosspay.domain.money import Money
from flosspay.domain.outbox import OutboxMessage
from flosspay.domain.payment import Flow, Payment, PaymentStatus
from flosspay.domain.rail import Outcome, PreparedPayment, Rail, RailRequest, RailResult, RefundResult
from flosspay.domain.refund import Refund, RefundStatus


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class Store:
    """The committed state shared by every FakeUnitOfWork made from one factory."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.payments: dict[uuid.UUID, Payment] = {}
        self.idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.outbox: list[OutboxMessage] = []
        self.dispatched: set[int] = set()
        self.dispatched_at: dict[int, datetime] = {}
        self.clients: dict[str, ApiClient] = {}
        self.commits = 0
        # The ledger and the chain: entries, every committed history row or entry in commit order
        # (what the chainer has to link), the links and the checkpoints.
        self.entries: dict[uuid.UUID, JournalEntry] = {}
        self.sources: list[Facts] = []
        self.chain: list[ChainLink] = []
        self.checkpoints: list[Checkpoint] = []
        self.chained_at: datetime | None = None
        # Refunds (issue 13) and what they hold of each payment's amount (the database's guard);
        # ``refund_reserved`` is the same dict under the name the ledger's fake uses.
        self.refunds: dict[uuid.UUID, Refund] = {}
        self.reserved: dict[uuid.UUID, int] = {}
        self.refund_reserved = self.reserved
        # The refund history rows by (refund id, index), as the chain sees them.
        self.refund_history: dict[tuple[uuid.UUID, int], RefundHistoryFacts] = {}

    def add_refund_history(self, facts: RefundHistoryFacts) -> None:
        """A committed refund history row (what the refunds code writes), waiting to be chained."""
        self.refund_history[(facts.refund_id, facts.index)] = facts
        self.sources.append(facts)


class _Payments:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, payment: Payment) -> None:
        snap, rows = _snapshot(payment), _new_rows(payment)

        def apply(s: Store) -> None:
            s.payments[payment.id] = snap
            s.sources.extend(rows)

        self.uow.pending.append(apply)
        payment.mark_saved()

    def accept(self, payment: Payment, record: IdempotencyRecord, message: OutboxMessage, now: datetime) -> bool:
        if not self.uow.idempotency.claim(record, now):
            return False
        self.add(payment)
        self.uow.outbox.add(message)
        return True

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        stored = self.uow.store.payments.get(payment_id)
        return _snapshot(stored) if stored else None

    def get_owned(self, client_id: str, payment_id: uuid.UUID) -> Payment | None:
        stored = self.uow.store.payments.get(payment_id)
        return _snapshot(stored) if stored and stored.client_id == client_id else None

    def save(self, payment: Payment, entry: JournalEntry | None = None) -> None:
        stored = self.uow.store.payments.get(payment.id)
        if stored is None or stored.version != payment.version:
            raise ConcurrentUpdate(f"payment {payment.id} changed since it was read")
        payment.version += 1
        snap, rows = _snapshot(payment), _new_rows(payment)

        def apply(s: Store) -> None:
            current = s.payments.get(payment.id)
            if current is None or current.version != snap.version - 1:
                raise ConcurrentUpdate(f"payment {payment.id} changed since it was read")
            s.payments[payment.id] = snap
            s.sources.extend(rows)

        self.uow.pending.append(apply)
        if entry is not None:
            self.uow.ledger.add(entry)
        payment.mark_saved()

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        store = self.uow.store

        def quiet_since(p: Payment, since: datetime) -> bool:
            return not any(
                m.payment_id == p.id and (m.id not in store.dispatched or store.dispatched_at[m.id] >= since)
                for m in store.outbox
            )

        found = []
        for p in store.payments.values():
            if p.is_parked:
                continue
            free = p.lease_expires_at is None or p.lease_expires_at < now
            died = p.status is PaymentStatus.PROCESSING and p.lease_expires_at is not None and free
            if (died and quiet_since(p, p.lease_expires_at)) or (
                not p.is_final and free and p.updated_at < idle_before and quiet_since(p, idle_before)
            ):
                found.append(p)
        found.sort(key=lambda p: p.lease_expires_at or p.updated_at)
        return [p.id for p in found][:limit]

    def find_parked(self, limit: int) -> list[uuid.UUID]:
        parked = [p for p in self.uow.store.payments.values() if p.parked_at is not None]
        parked.sort(key=lambda p: p.parked_at or p.updated_at)
        return [p.id for p in parked][:limit]

    def count_parked(self) -> int:
        return sum(1 for p in self.uow.store.payments.values() if p.parked_at is not None)

    def find_stuck(self, untouched_since: datetime, limit: int) -> list[uuid.UUID]:
        stuck = [
            p
            for p in self.uow.store.payments.values()
            if not p.is_final and p.parked_at is None and p.updated_at < untouched_since
        ]
        stuck.sort(key=lambda p: p.updated_at)
        return [p.id for p in stuck][:limit]


def _new_rows(payment: Payment) -> list[Facts]:
    """The chain facts of the history rows this save appends."""
    first = len(payment.history) - len(payment.new_history)
    return [history_facts(payment, index) for index in range(first, len(payment.history))]


def _snapshot(payment: Payment) -> Payment:
    copied = copy.deepcopy(payment)
    copied.new_history = []
    copied.touched_attempts = set()
    return copied


class _Refunds:
    """Refunds, with the reservation checked against the payment's amount as the database's CHECK does."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.held: dict[uuid.UUID, int] = {}  # this transaction's view of the reservations

    def reserved(self, payment_id: uuid.UUID) -> int:
        return self.held.get(payment_id, self.uow.store.reserved.get(payment_id, 0))

    def reserve(self, payment_id: uuid.UUID, amount_minor: int) -> bool:
        payment = self.uow.store.payments.get(payment_id)
        if payment is None or amount_minor <= 0:
            return False
        total = self.reserved(payment_id) + amount_minor
        if total > payment.amount.minor:
            return False
        self.held[payment_id] = total
        self.uow.pending.append(lambda s: s.reserved.__setitem__(payment_id, total))
        return True

    def release(self, payment_id: uuid.UUID, amount_minor: int) -> None:
        total = self.reserved(payment_id) - amount_minor
        if total < 0:
            raise ValueError("refund_within_amount: a release below zero")
        self.held[payment_id] = total
        self.uow.pending.append(lambda s: s.reserved.__setitem__(payment_id, total))

    def _chain_new_history(self, refund: Refund) -> None:
        """The history rows this save adds reach the fake chain, as the SQL triggers/tx order make them."""
        first = len(refund.history) - len(refund.new_history)
        for offset, change in enumerate(list(refund.new_history)):
            facts = RefundHistoryFacts(
                refund.id,
                first + offset,
                change.from_status.value if change.from_status is not None else None,
                change.to_status.value,
                change.attempt,
                change.at,
                refund.payment_id,
                refund.amount.currency,
                refund.amount.minor,
                refund.client_id,
                change.reason,
            )
            self.uow.pending.append(lambda s, f=facts: s.add_refund_history(f))

    def add(self, refund: Refund) -> None:
        snap = _refund_snapshot(refund)
        self.uow.pending.append(lambda s: s.refunds.__setitem__(refund.id, snap))
        self._chain_new_history(refund)
        refund.mark_saved()

    def get(self, refund_id: uuid.UUID) -> Refund | None:
        stored = self.uow.store.refunds.get(refund_id)
        return _refund_snapshot(stored) if stored else None

    def get_owned(self, client_id: str, refund_id: uuid.UUID) -> Refund | None:
        stored = self.uow.store.refunds.get(refund_id)
        return _refund_snapshot(stored) if stored and stored.client_id == client_id else None

    def save(self, refund: Refund) -> None:
        stored = self.uow.store.refunds.get(refund.id)
        if stored is None or stored.version != refund.version:
            raise ConcurrentUpdate(f"refund {refund.id} changed since it was read")
        refund.version += 1
        snap = _refund_snapshot(refund)

        def apply(s: Store) -> None:
            current = s.refunds.get(refund.id)
            if current is None or current.version != snap.version - 1:
                raise ConcurrentUpdate(f"refund {refund.id} changed since it was read")
            s.refunds[refund.id] = snap

        self.uow.pending.append(apply)
        self._chain_new_history(refund)
        refund.mark_saved()

    def for_payment(self, payment_id: uuid.UUID) -> list[Refund]:
        found = [_refund_snapshot(r) for r in self.uow.store.refunds.values() if r.payment_id == payment_id]
        return sorted(found, key=lambda r: (r.created_at, str(r.id)))

    def for_client(self, client_id: str, limit: int) -> list[Refund]:
        found = [_refund_snapshot(r) for r in self.uow.store.refunds.values() if r.client_id == client_id]
        return sorted(found, key=lambda r: (r.created_at, str(r.id)), reverse=True)[:limit]

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        store = self.uow.store

        def quiet_since(r: Refund, since: datetime) -> bool:
            return not any(
                m.refund_id == r.id and (m.id not in store.dispatched or store.dispatched_at[m.id] >= since)
                for m in store.outbox
            )

        found = []
        for r in store.refunds.values():
            if r.is_parked or r.is_final:
                continue
            free = r.lease_expires_at is None or r.lease_expires_at < now
            died = r.status is RefundStatus.PROCESSING and r.lease_expires_at is not None and free
            if (died and quiet_since(r, r.lease_expires_at)) or (  # type: ignore[arg-type]
                free and r.updated_at < idle_before and quiet_since(r, idle_before)
            ):
                found.append(r)
        found.sort(key=lambda r: r.lease_expires_at or r.updated_at)
        return [r.id for r in found][:limit]

    def find_parked(self, limit: int) -> list[uuid.UUID]:
        parked = [r for r in self.uow.store.refunds.values() if r.parked_at is not None]
        parked.sort(key=lambda r: r.parked_at or r.updated_at)
        return [r.id for r in parked][:limit]


def _refund_snapshot(refund: Refund) -> Refund:
    copied = copy.deepcopy(refund)
    copied.new_history = []
    copied.touched_attempts = set()
    return copied


class _Idempotency:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def claim(self, record: IdempotencyRecord, now: datetime) -> bool:
        key = (record.client_id, record.key)
        existing = self.uow.store.idempotency.get(key)
        if existing is not None and existing.expires_at > now:
            return False
        self.uow.pending.append(lambda s: s.idempotency.__setitem__(key, record))
        return True

    def get(self, client_id: str, key: str) -> IdempotencyRecord | None:
        return self.uow.store.idempotency.get((client_id, key))

    def purge_expired(self, now: datetime, limit: int) -> int:
        expired = [k for k, r in self.uow.store.idempotency.items() if r.expires_at <= now][:limit]
        self.uow.pending.append(lambda s: [s.idempotency.pop(k, None) for k in expired])
        return len(expired)


class _Outbox:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, message: OutboxMessage) -> None:
        def apply(s: Store) -> None:
            s.outbox.append(msgspec.structs.replace(message, id=len(s.outbox) + 1))

        self.uow.pending.append(apply)

    def fetch_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        store = self.uow.store
        due = [m for m in store.outbox if m.id not in store.dispatched and m.available_at <= now]
        return due[:limit]

    def mark_dispatched(self, ids: Sequence[int], now: datetime) -> None:
        def apply(s: Store) -> None:
            s.dispatched.update(ids)
            s.dispatched_at.update(dict.fromkeys(ids, now))

        self.uow.pending.append(apply)


class _Clients:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, client: ApiClient) -> None:
        self.uow.pending.append(lambda s: s.clients.__setitem__(client.client_id, client))

    def get(self, client_id: str) -> ApiClient | None:
        return self.uow.store.clients.get(client_id)

    def list(self) -> list[ApiClient]:
        return list(self.uow.store.clients.values())

    def save(self, client: ApiClient) -> None:
        self.uow.pending.append(lambda s: s.clients.__setitem__(client.client_id, client))

    def set_limit(self, client_id: str, limit: BucketLimit) -> bool:
        if client_id not in self.uow.store.clients:
            return False

        def apply(s: Store) -> None:
            s.clients[client_id] = msgspec.structs.replace(s.clients[client_id], limit=limit)

        self.uow.pending.append(apply)
        return True


class _Ledger:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, entry: JournalEntry) -> None:
        store = self.uow.store
        if entry.id in store.entries:
            raise LedgerError(f"journal entry {entry.id} exists")  # the primary key, in SQL
        if entry.kind is EntryKind.REVERSAL and any(
            e.kind is EntryKind.REVERSAL and e.ref_entry_id == entry.ref_entry_id for e in store.entries.values()
        ):
            raise LedgerError(f"entry {entry.ref_entry_id} is already reversed")  # a unique index, in SQL

        def apply(s: Store) -> None:
            s.entries[entry.id] = entry
            s.sources.append(entry.facts())

        self.uow.pending.append(apply)

    def get(self, entry_id: uuid.UUID) -> JournalEntry | None:
        return self.uow.store.entries.get(entry_id)

    def payment_entry_id(self, payment_id: uuid.UUID) -> uuid.UUID | None:
        return next(
            (
                e.id
                for e in self.uow.store.entries.values()
                if e.kind is EntryKind.PAYMENT and e.payment_id == payment_id
            ),
            None,
        )

    def entries_referencing(self, entry_id: uuid.UUID) -> list[JournalEntry]:
        return [e for e in self.uow.store.entries.values() if e.ref_entry_id == entry_id]

    def close_to_refunds(self, payment_id: uuid.UUID, refunded: int) -> bool:
        store = self.uow.store
        if store.refund_reserved.get(payment_id, 0) != refunded:
            return False
        amount = store.payments[payment_id].amount.minor if payment_id in store.payments else refunded
        self.uow.pending.append(lambda s: s.refund_reserved.__setitem__(payment_id, amount))
        return True

    def balance(self, account: str, as_of: datetime | None = None) -> dict[str, int]:
        return balance(self.uow.store.entries.values(), account, as_of)


class _Chain:
    """The chain over the Store: records are chained in commit order (``Store.sources``)."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def try_lock(self) -> bool:
        return True  # the whole unit of work holds the store's lock

    def head(self) -> ChainHead:
        chain = self.uow.store.chain
        return ChainHead(chain[-1].seq, chain[-1].hash, self.uow.store.chained_at) if chain else ChainHead(0, GENESIS)

    def pending(self, limit: int) -> list[Pending]:
        store = self.uow.store
        done = len(store.chain)
        return [Pending(f, pos) for pos, f in enumerate(store.sources[done : done + limit], start=done)]

    def append(self, links: Sequence[ChainLink], at: datetime) -> None:
        def apply(s: Store) -> None:
            s.chain.extend(links)
            s.chained_at = at

        self.uow.pending.append(apply)

    def read(self, after_seq: int, limit: int) -> list[ChainedRecord]:
        store = self.uow.store
        found = []
        for link in store.chain[after_seq : after_seq + limit]:
            facts: Facts | None
            if link.kind == "history":
                assert link.payment_id is not None and link.history_index is not None
                payment = store.payments[link.payment_id]
                facts = history_facts(payment, link.history_index)
            elif link.kind == "refund_history":
                assert link.refund_id is not None and link.history_index is not None
                facts = store.refund_history[(link.refund_id, link.history_index)]
            else:
                assert link.entry_id is not None
                facts = store.entries[link.entry_id].facts()
            found.append(ChainedRecord(link, facts))
        return found

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.uow.pending.append(lambda s: s.checkpoints.append(checkpoint))

    def last_checkpoint(self) -> Checkpoint | None:
        return self.uow.store.checkpoints[-1] if self.uow.store.checkpoints else None

    def checkpoints(self, after_seq: int, upto_seq: int) -> list[Checkpoint]:
        return [c for c in self.uow.store.checkpoints if after_seq < c.seq <= upto_seq]


class FakeUnitOfWork:
    """Writes are queued and applied to the Store only on commit; the whole UoW is serialised."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[Any] = []
        self.committed = False
        self.payments = _Payments(self)
        self.refunds = _Refunds(self)
        self.idempotency = _Idempotency(self)
        self.outbox = _Outbox(self)
        self.clients = _Clients(self)
        self.ledger = _Ledger(self)
        self.chain = _Chain(self)

    def __enter__(self) -> Self:
        self.store.lock.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            self.store.lock.release()

    def commit(self) -> None:
        for apply in self.pending:
            apply(self.store)
        self.pending.clear()
        self.refunds.held.clear()
        self.store.commits += 1
        self.committed = True

    def rollback(self) -> None:
        self.pending.clear()
        self.refunds.held.clear()


class FakeUnitOfWorkFactory:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)


class FakeQueue:
    def __init__(self, fail: bool = False) -> None:
        self.messages: list[OutboxMessage] = []
        self.fail = fail

    def enqueue(self, message: OutboxMessage) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.messages.append(message)

    def enqueue_many(self, messages: Sequence[OutboxMessage]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.messages.extend(messages)


class FakeFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    sender_upi: str
    receiver_upi: str


class FakeRail:
    """A scriptable rail: ``script`` lists the results execute/status return in turn."""

    name: ClassVar[str] = "upi"
    method: ClassVar[str] = "UPI"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY, Flow.COLLECT})
    request_type: ClassVar[type[msgspec.Struct]] = FakeFields
    refunds: ClassVar[bool] = True
    partial_refunds: ClassVar[bool] = True

    def __init__(self, *results: RailResult) -> None:
        self.script = list(results)
        self.calls: list[tuple[str, str]] = []
        self.charged: dict[str, int] = {}
        self.refund_script: list[RefundResult] = []
        self.refund_calls: list[str] = []
        self.refunds_done: dict[str, int] = {}  # refund reference -> minor units given back, once each
        self.refunds_of: dict[str, list[str]] = {}  # payment reference -> its refund references
        self.uncertain_refunds = False

    def _next(self) -> RailResult:
        return self.script.pop(0) if self.script else RailResult(Outcome.COMPLETED, "00", "approved")

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        assert isinstance(fields, FakeFields)
        if fields.sender_upi.lower() == fields.receiver_upi.lower():
            raise ValidationFailed([FieldError("receiverUpi", "must differ from senderUpi")])
        return PreparedPayment(
            {"senderUpi": fields.sender_upi, "receiverUpi": fields.receiver_upi},
            {},
            payer_account=("vpa", fields.sender_upi.lower()),
            payee_account=("vpa", fields.receiver_upi.lower()),
        )

    def execute(self, request: RailRequest) -> RailResult:
        self.calls.append(("execute", request.reference))
        result = self._next()
        if result.outcome is Outcome.COMPLETED:
            self.charged[request.reference] = self.charged.get(request.reference, 0) + 1
        return result

    def status(self, request: RailRequest) -> RailResult:
        self.calls.append(("status", request.reference))
        if request.reference in self.charged:
            return RailResult(Outcome.COMPLETED, "00", "approved")
        return self._next() if self.script else RailResult(Outcome.NOT_FOUND)

    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        """Idempotent by ``refund_reference`` (a repeat answers what the first did); capped at the amount.

        ``refund_script`` lists answers to give first (an UNCERTAIN one still refunds when
        ``uncertain_refunds`` is set: the answer was lost, the money was not).
        """
        self.refund_calls.append(refund_reference)
        if refund_reference in self.refunds_done:
            return RefundResult(Outcome.COMPLETED, "00", "refunded")
        if self.refund_script:
            scripted = self.refund_script.pop(0)
            if scripted.outcome is Outcome.UNCERTAIN and self.uncertain_refunds:
                self.refunds_done[refund_reference] = amount.minor
                self.refunds_of.setdefault(request.reference, []).append(refund_reference)
            if scripted.outcome is not Outcome.COMPLETED:
                return scripted
        total = self._refunded(request.reference) + amount.minor
        if total > request.amount.minor:
            return RefundResult(Outcome.DECLINED, "REFUND_EXCEEDS_PAYMENT", "refunds exceed the payment")
        self.refunds_done[refund_reference] = amount.minor
        self.refunds_of.setdefault(request.reference, []).append(refund_reference)
        return RefundResult(Outcome.COMPLETED, "00", "refunded")

    def _refunded(self, reference: str) -> int:
        return sum(self.refunds_done[r] for r in self.refunds_of.get(reference, []))


class FakeRailRegistry:
    def __init__(self, *rails: Rail) -> None:
        self.rails = {r.name: r for r in rails}

    def get(self, name: str) -> Rail | None:
        return self.rails.get(name)

    def by_method(self, method: str) -> Rail | None:
        return next((r for r in self.rails.values() if r.method == method), None)

    def methods(self) -> list[str]:
        return sorted(r.method for r in self.rails.values())

    def all(self) -> list[Rail]:
        return list(self.rails.values())

    @property
    def infos(self) -> list[Any]:
        """What the composition root reads of a plugin registry (every fake rail loaded, none failed)."""
        return [types.SimpleNamespace(name=r.name, error=None, enabled=True) for r in self.rails.values()]
