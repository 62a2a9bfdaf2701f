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
    """Post the reversal of ``entry_id`` (each posting negated); an entry is reversed at most once."""
    with uow_factory() as uow:
        original = uow.ledger.get(entry_id)
        if original is None:
            raise NotFound(f"no journal entry {entry_id}")
        if any(e.kind is EntryKind.REVERSAL for e in uow.ledger.entries_referencing(entry_id)):
            raise LedgerError(f"journal entry {entry_id} is already reversed")
        reversal = original.reversal(new_id(), clock.now(), description)
        uow.ledger.add(reversal)
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
