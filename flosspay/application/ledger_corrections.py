"""Reverse or correct a journal entry: never by changing it, always by a new entry that says so."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from flosspay.domain.errors import NotFound
from flosspay.domain.ledger import EntryKind, JournalEntry, LedgerError, Posting
from flosspay.domain.ports import Clock, UnitOfWorkFactory


def reverse_entry(
    entry_id: uuid.UUID,
    description: str,
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> JournalEntry:
    """Post the reversal of ``entry_id`` (each posting negated); an entry is reversed at most once.

    A payment entry's reversal undoes only what its refunds left, and closes the payment to further
    refunds in the same transaction; it is refused while a refund of the payment is still in flight.
    """
    with uow_factory() as uow:
        original = uow.ledger.get(entry_id)
        if original is None:
            raise NotFound(f"no journal entry {entry_id}")
        referencing = uow.ledger.entries_referencing(entry_id)
        if any(e.kind is EntryKind.REVERSAL for e in referencing):
            raise LedgerError(f"journal entry {entry_id} is already reversed")
        refunded = sum(e.postings[-1].amount.minor for e in referencing if e.kind is EntryKind.REFUND)
        reversal = original.reversal(new_id(), clock.now(), description, refunded)
        # The reversal first: of two racing ones the unique index lets one through, the other is told
        # "already reversed"; then the payment is closed to refunds, or the whole transaction undone.
        uow.ledger.add(reversal)
        if (
            original.kind is EntryKind.PAYMENT
            and original.payment_id is not None
            and not uow.ledger.close_to_refunds(original.payment_id, refunded)
        ):
            raise LedgerError(
                f"payment {original.payment_id} has a refund pending or processing: reverse it once that refund ended"
            )
        uow.commit()
    return reversal


def correct_entry(
    entry_id: uuid.UUID,
    description: str,
    postings: Iterable[Posting],
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> JournalEntry:
    """Post a balanced adjusting entry that references ``entry_id``."""
    with uow_factory() as uow:
        original = uow.ledger.get(entry_id)
        if original is None:
            raise NotFound(f"no journal entry {entry_id}")
        correction = original.correction(new_id(), clock.now(), description, postings)
        uow.ledger.add(correction)
        uow.commit()
    return correction
