"""Ports: what the application needs from the world, as Protocols the adapters implement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from flosspay.domain.breaker import Breaker
from flosspay.domain.bucket import BucketDecision, BucketLimit
from flosspay.domain.chain import ChainedRecord, ChainHead, ChainLink, Checkpoint, Pending
from flosspay.domain.clients import ApiClient
from flosspay.domain.idempotency import IdempotencyRecord
from flosspay.domain.ledger import JournalEntry
from flosspay.domain.outbox import OutboxMessage
from flosspay.domain.payment import Payment
from flosspay.domain.rail import Rail
from flosspay.domain.refund import Refund


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class PaymentRepository(Protocol):
    def add(self, payment: Payment) -> None:
        """Insert a new payment with its history and attempts."""
        ...

    def accept(self, payment: Payment, record: IdempotencyRecord, message: OutboxMessage, now: datetime) -> bool:
        """Claim ``record``'s key (as ``IdempotencyStore.claim``) and only then add the new payment and
        ``message``: one atomic step, the intake's hot path. False, writing nothing, if the key is held.
        """
        ...

    def get(self, payment_id: uuid.UUID) -> Payment | None:
        """Load a payment with its full history and attempts."""
        ...

    def get_owned(self, client_id: str, payment_id: uuid.UUID) -> Payment | None:
        """``get``, but only if ``client_id`` owns the payment, decided in the one query that finds it:
        another client's id and a missing id cost the same."""
        ...

    def save(self, payment: Payment, entry: JournalEntry | None = None) -> None:
        """Persist changes; raises ``ConcurrentUpdate`` if ``payment.version`` is stale.

        Writes the payment row with ``version + 1``, appends ``payment.new_history`` and upserts
        the attempts in ``payment.touched_attempts``, then calls ``payment.mark_saved()`` and
        increments ``payment.version``. ``entry``, the journal entry of money this change moved, is
        added with it (as ``LedgerRepository.add``), so the two are one write: both or neither.
        """
        ...

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        """Payments a worker should be carrying but is not, oldest first.

        Either PROCESSING with a lease that ran out (its worker died), or not final, not leased
        and untouched since ``idle_before`` (its message was lost). A payment with a message
        waiting in the outbox, or dispatched since it stalled, is not returned.
        A dead-lettered (parked) payment is never returned.
        """
        ...

    def find_parked(self, limit: int) -> list[uuid.UUID]:
        """Dead-lettered payments (waiting for an operator's requeue), oldest first."""
        ...

    def count_parked(self) -> int:
        """How many payments are dead-lettered."""
        ...

    def find_stuck(self, untouched_since: datetime, limit: int) -> list[uuid.UUID]:
        """Payments not final, not parked and unchanged since ``untouched_since`` (nothing is carrying them)."""
        ...


class RefundRepository(Protocol):
    """Refunds (issue 13) and the reservation they hold on their payment's amount."""

    def reserve(self, payment_id: uuid.UUID, amount_minor: int) -> bool:
        """Add ``amount_minor`` to what refunds hold of the payment, only if the total stays within its
        amount; False, changing nothing, if it would not. One guarded statement: the database decides,
        so concurrent requests at several API processes can never together over-refund."""
        ...

    def release(self, payment_id: uuid.UUID, amount_minor: int) -> None:
        """Give back a failed refund's reservation (in the transaction that marks it FAILED)."""
        ...

    def reserved(self, payment_id: uuid.UUID) -> int:
        """What succeeded and pending refunds hold of the payment (minor units)."""
        ...

    def add(self, refund: Refund) -> None:
        """Insert a new refund with its history and attempts."""
        ...

    def get(self, refund_id: uuid.UUID) -> Refund | None: ...

    def get_owned(self, client_id: str, refund_id: uuid.UUID) -> Refund | None:
        """``get``, only if ``client_id`` owns it (another client's refund is a missing one)."""
        ...

    def save(self, refund: Refund) -> None:
        """Persist changes; ``ConcurrentUpdate`` if ``refund.version`` is stale (as ``PaymentRepository.save``).

        The webhook events a final status causes (``refund.succeeded``, ``refund.failed``) commit with it.
        """
        ...

    def for_payment(self, payment_id: uuid.UUID) -> list[Refund]:
        """The payment's refunds, oldest first."""
        ...

    def for_client(self, client_id: str, limit: int) -> list[Refund]:
        """The client's newest refunds, newest first."""
        ...

    def find_stalled(self, now: datetime, limit: int, idle_before: datetime) -> list[uuid.UUID]:
        """Refunds a worker should be carrying and is not (as ``PaymentRepository.find_stalled``): PROCESSING
        with a lapsed lease, or unfinished, unleased and untouched since ``idle_before``; none with a message
        waiting or dispatched since it stalled; never a parked one."""
        ...

    def find_parked(self, limit: int) -> list[uuid.UUID]: ...


class IdempotencyStore(Protocol):
    def claim(self, record: IdempotencyRecord, now: datetime) -> bool:
        """Store ``record`` unless a live record holds its (client, key); True when stored.

        An expired record under the same key is replaced. On PostgreSQL a concurrent uncommitted
        claim of the same key blocks until it ends, and raises ``IdempotencyInProgress`` if that
        takes longer than the configured lock timeout.
        """
        ...

    def get(self, client_id: str, key: str) -> IdempotencyRecord | None: ...

    def purge_expired(self, now: datetime, limit: int) -> int: ...


class Outbox(Protocol):
    def add(self, message: OutboxMessage) -> None: ...

    def fetch_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Undispatched messages with ``available_at <= now``, locked for this transaction
        (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), oldest first."""
        ...

    def mark_dispatched(self, ids: Sequence[int], now: datetime) -> None: ...


class ClientRepository(Protocol):
    def add(self, client: ApiClient) -> None: ...

    def get(self, client_id: str) -> ApiClient | None: ...

    def list(self) -> list[ApiClient]: ...

    def save(self, client: ApiClient) -> None:
        """Replace the stored secrets and ``active`` flag of an existing client."""
        ...

    def set_limit(self, client_id: str, limit: BucketLimit) -> bool:
        """Change a client's rate limit; False when there is no such client."""
        ...


class LedgerRepository(Protocol):
    """Journal entries; append-only (the database refuses UPDATE and DELETE)."""

    def add(self, entry: JournalEntry) -> None:
        """Insert the entry and its postings. A second payment entry for a payment, or a second
        reversal of an entry, is refused by the database."""
        ...

    def get(self, entry_id: uuid.UUID) -> JournalEntry | None: ...

    def payment_entry_id(self, payment_id: uuid.UUID) -> uuid.UUID | None:
        """The id of the entry that posted this payment, if it is posted."""
        ...

    def entries_referencing(self, entry_id: uuid.UUID) -> list[JournalEntry]:
        """Reversals, corrections and refunds of ``entry_id``, oldest first."""
        ...

    def close_to_refunds(self, payment_id: uuid.UUID, refunded: int) -> bool:
        """Before a reversal: hold the payment's whole amount against refunds, so none is accepted after it.

        False (nothing changed) when refunds hold more than ``refunded``, what refund entries gave back:
        a refund is pending or processing, and the reversal must wait for it (docs/ledger.md §5).
        """
        ...

    def balance(self, account: str, as_of: datetime | None = None) -> dict[str, int]:
        """Currency → sum of the account's postings (posted at or before ``as_of``)."""
        ...


class ChainRepository(Protocol):
    """The hash chain linking history rows and journal entries after they are committed."""

    def try_lock(self) -> bool:
        """Become the one chainer for this transaction; False when another process is chaining."""
        ...

    def head(self) -> ChainHead:
        """The newest link (seq 0 with the genesis hash when the chain is empty)."""
        ...

    def pending(self, limit: int) -> list[Pending]:
        """Committed records not chained yet, at most ``limit``, in the order they must be chained.

        Only records no running transaction can still precede are returned, so the order is
        stable: a record committed later never belongs before one chained already.
        """
        ...

    def append(self, links: Sequence[ChainLink], at: datetime) -> None:
        """Store the links (``at``: when they were chained)."""
        ...

    def read(self, after_seq: int, limit: int) -> list[ChainedRecord]:
        """Links after ``after_seq`` in order, each with its record recomputed from the source rows."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    def last_checkpoint(self) -> Checkpoint | None: ...

    def checkpoints(self, after_seq: int, upto_seq: int) -> list[Checkpoint]:
        """Checkpoints with ``after_seq < seq <= upto_seq``, in order."""
        ...


class CheckpointSigner(Protocol):
    """Signs checkpoints with the operator's Ed25519 key."""

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key auditors check signatures with."""
        ...

    def sign(self, message: bytes) -> bytes: ...


class UnitOfWork(Protocol):
    """One database transaction. Commits only when told; leaving the block without commit rolls back."""

    payments: PaymentRepository
    refunds: RefundRepository
    idempotency: IdempotencyStore
    outbox: Outbox
    clients: ClientRepository
    ledger: LedgerRepository
    chain: ChainRepository

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...


class TaskQueue(Protocol):
    def enqueue(self, message: OutboxMessage) -> None:
        """Hand a message to the broker; raises if the broker does not take it."""
        ...

    def enqueue_many(self, messages: Sequence[OutboxMessage]) -> None:
        """Hand all of them to the broker in one go (one round trip where the broker allows); returns
        once the broker has every one, raises otherwise (then any of them may or may not be queued)."""
        ...


class RailRegistry(Protocol):
    def get(self, name: str) -> Rail | None:
        """The enabled rail named ``name`` (lower-case), or None."""
        ...

    def by_method(self, method: str) -> Rail | None:
        """The enabled rail serving payment method ``method`` (``UPI``), or None."""
        ...

    def methods(self) -> list[str]:
        """Enabled payment methods, sorted."""
        ...


class HealthProbe(Protocol):
    def check(self) -> dict[str, bool]:
        """Name → reachable, for each dependency (``database``, ``broker``)."""
        ...

    def counts(self) -> dict[str, int]:
        """Figures an operator must see at a glance (``dead letters``); empty when they cannot be read."""
        ...


class BreakerStore(Protocol):
    """Where circuit breakers live: shared by every worker (Redis) or kept in-process (embedded)."""

    def load(self, service: str) -> Breaker:
        """The service's breaker (a fresh CLOSED one, version 0, when none is stored)."""
        ...

    def swap(self, expected_version: int, breaker: Breaker) -> bool:
        """Store ``breaker`` only if the stored one still has ``expected_version``; atomic, True when stored."""
        ...


class RateLimiter(Protocol):
    """Token buckets of API clients, shared by every API process (Redis) or in-process (embedded)."""

    async def take(self, client_id: str, limit: BucketLimit) -> BucketDecision:
        """Take one token from ``client_id``'s bucket if it has one; atomic. Never raises: a store that
        does not answer is replaced by a per-process bucket until it answers again."""
        ...
