"""In-memory fakes of the domain's ports, for unit tests of the domain and the use cases."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

import msgspec

from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import ConcurrentUpdate, FieldError, ValidationFailed
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.money import Money
from flosspay.domain.outbox import OutboxMessage
from flosspay.domain.payment import Flow, Payment, PaymentStatus
from flosspay.domain.rail import Outcome, PreparedPayment, Rail, RailRequest, RailResult, RefundResult


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


class _Payments:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow

    def add(self, payment: Payment) -> None:
        self.uow.pending.append(lambda s: s.payments.__setitem__(payment.id, _snapshot(payment)))
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

    def save(self, payment: Payment) -> None:
        stored = self.uow.store.payments.get(payment.id)
        if stored is None or stored.version != payment.version:
            raise ConcurrentUpdate(f"payment {payment.id} changed since it was read")
        payment.version += 1
        snap = _snapshot(payment)

        def apply(s: Store) -> None:
            current = s.payments.get(payment.id)
            if current is None or current.version != snap.version - 1:
                raise ConcurrentUpdate(f"payment {payment.id} changed since it was read")
            s.payments[payment.id] = snap

        self.uow.pending.append(apply)
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
            free = p.lease_expires_at is None or p.lease_expires_at < now
            died = p.status is PaymentStatus.PROCESSING and p.lease_expires_at is not None and free
            if (died and quiet_since(p, p.lease_expires_at)) or (
                not p.is_final and free and p.updated_at < idle_before and quiet_since(p, idle_before)
            ):
                found.append(p)
        found.sort(key=lambda p: p.lease_expires_at or p.updated_at)
        return [p.id for p in found][:limit]


def _snapshot(payment: Payment) -> Payment:
    copied = copy.deepcopy(payment)
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


class FakeUnitOfWork:
    """Writes are queued and applied to the Store only on commit; the whole UoW is serialised."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pending: list[Any] = []
        self.committed = False
        self.payments = _Payments(self)
        self.idempotency = _Idempotency(self)
        self.outbox = _Outbox(self)
        self.clients = _Clients(self)

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
        self.store.commits += 1
        self.committed = True

    def rollback(self) -> None:
        self.pending.clear()


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


class FakeFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    sender_upi: str
    receiver_upi: str


class FakeRail:
    """A scriptable rail: ``script`` lists the results execute/status return in turn."""

    name: ClassVar[str] = "upi"
    method: ClassVar[str] = "UPI"
    flows: ClassVar[frozenset[Flow]] = frozenset({Flow.PAY, Flow.COLLECT})
    request_type: ClassVar[type[msgspec.Struct]] = FakeFields

    def __init__(self, *results: RailResult) -> None:
        self.script = list(results)
        self.calls: list[tuple[str, str]] = []
        self.charged: dict[str, int] = {}

    def _next(self) -> RailResult:
        return self.script.pop(0) if self.script else RailResult(Outcome.COMPLETED, "00", "approved")

    def prepare(self, fields: msgspec.Struct, amount: Money, flow: Flow) -> PreparedPayment:
        assert isinstance(fields, FakeFields)
        if fields.sender_upi.lower() == fields.receiver_upi.lower():
            raise ValidationFailed([FieldError("receiverUpi", "must differ from senderUpi")])
        return PreparedPayment({"senderUpi": fields.sender_upi, "receiverUpi": fields.receiver_upi}, {})

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
        return RefundResult(Outcome.COMPLETED)


class FakeRailRegistry:
    def __init__(self, *rails: Rail) -> None:
        self.rails = {r.name: r for r in rails}

    def get(self, name: str) -> Rail | None:
        return self.rails.get(name)

    def by_method(self, method: str) -> Rail | None:
        return next((r for r in self.rails.values() if r.method == method), None)

    def methods(self) -> list[str]:
        return sorted(r.method for r in self.rails.values())
