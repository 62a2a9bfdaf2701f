"""The outbox: due messages oldest first, dispatched ones never again, relays never share a row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from flosspay.domain.outbox import TOPIC_PROCESS, OutboxMessage
from tests.integration.persistence.support import T0, make_payment

pytestmark = pytest.mark.integration


def _seed(uow_factory: SqlUnitOfWorkFactory, offsets_s: list[int]) -> list[OutboxMessage]:
    """One payment with a message due at T0 + each offset, added in the given order."""
    payment = make_payment()
    messages = [OutboxMessage(payment.id, TOPIC_PROCESS, T0 + timedelta(seconds=s)) for s in offsets_s]
    with uow_factory() as uow:
        uow.payments.add(payment)
        for message in messages:
            uow.outbox.add(message)
        uow.commit()
    return messages


def test_fetch_due_returns_due_messages_oldest_first(uow_factory: SqlUnitOfWorkFactory) -> None:
    messages = _seed(uow_factory, [0, -5, 10, -5])
    with uow_factory() as uow:
        due = uow.outbox.fetch_due(T0, 10)
        limited = uow.outbox.fetch_due(T0, 2)
    assert [m.available_at for m in due] == [T0 - timedelta(seconds=5)] * 2 + [T0]
    assert [m.id for m in due][:2] == sorted(m.id for m in due[:2] if m.id is not None)  # ties by id
    assert all(m.payment_id == messages[0].payment_id and m.topic == TOPIC_PROCESS for m in due)
    assert all(m.available_at.utcoffset() == timedelta(0) for m in due)
    assert limited == due[:2]


def test_dispatched_messages_are_not_fetched_again(uow_factory: SqlUnitOfWorkFactory) -> None:
    _seed(uow_factory, [0, 1, 2, 30])
    later = T0 + timedelta(seconds=5)
    with uow_factory() as uow:
        first = uow.outbox.fetch_due(later, 2)
        uow.outbox.mark_dispatched([m.id for m in first if m.id is not None], later)
        uow.outbox.mark_dispatched([], later)  # nothing to mark is fine
        uow.commit()
    with uow_factory() as uow:
        rest = uow.outbox.fetch_due(later, 10)
        assert [m.available_at for m in rest] == [T0 + timedelta(seconds=2)]
        uow.outbox.mark_dispatched([m.id for m in rest if m.id is not None], later)
        # Not committed: rolled back, so the message is still due.
    with uow_factory() as uow:
        assert [m.id for m in uow.outbox.fetch_due(later, 10)] == [m.id for m in rest]
        assert len(uow.outbox.fetch_due(T0 + timedelta(minutes=1), 10)) == 2


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite serializes relays instead
def test_concurrent_relays_get_disjoint_rows(uow_factory: SqlUnitOfWorkFactory) -> None:
    _seed(uow_factory, list(range(10)))
    later = T0 + timedelta(minutes=1)
    with uow_factory() as first, uow_factory() as second:
        a = first.outbox.fetch_due(later, 4)
        b = second.outbox.fetch_due(later, 10)
        assert len(a) == 4 and len(b) == 6
        assert {m.id for m in a}.isdisjoint({m.id for m in b})
        first.outbox.mark_dispatched([m.id for m in a if m.id is not None], later)
        first.commit()
    with uow_factory() as uow:  # the second relay rolled back: its six are due again
        assert {m.id for m in uow.outbox.fetch_due(later, 10)} == {m.id for m in b}
