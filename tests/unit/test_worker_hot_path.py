"""What the worker's per-payment shortcuts (ADR 0022) must keep: the same rows, metrics, checks and log ids."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from flosspay.adapters import metrics
from flosspay.adapters.logs import bound, payment_id_var, request_id_var
from flosspay.adapters.persistence.webhooks import event_row, payment_event
from flosspay.domain.ledger import JournalEntry, LedgerError, Posting, completed_payment_entry, payment_entry_id
from flosspay.domain.webhooks import EventType
from tests.unit.test_ledger import T0, inr, payment

pytestmark = pytest.mark.unit


def test_an_event_row_holds_exactly_the_events_fields_and_its_pattern() -> None:
    made = payment()
    for event in (EventType.PAYMENT_COMPLETED, EventType.PAYMENT_FAILED):
        as_struct = msgspec.structs.asdict(payment_event(made, event, T0)) | {"type": event.value}
        assert event_row(made, event, T0) == as_struct | {"pattern": f"% {event.value} %"}


def test_a_remembered_metric_child_is_the_one_labels_gives() -> None:
    child = metrics.child(metrics.RETRIES, "hot-path-rail")
    assert child is metrics.RETRIES.labels("hot-path-rail")
    assert metrics.child(metrics.RETRIES, "hot-path-rail") is child
    before = metrics.RETRIES.labels("hot-path-rail")._value.get()
    child.inc()
    assert metrics.RETRIES.labels("hot-path-rail")._value.get() == before + 1


def test_remembered_account_checks_still_refuse_a_malformed_name_every_time() -> None:
    good = (Posting("upi:clearing", inr(5)), Posting("merchant:cl_1", inr(-5)))
    for _ in range(2):
        JournalEntry(uuid.uuid4(), "correction", T0, "ok", good, ref_entry_id=uuid.uuid4())  # type: ignore[arg-type]
        for bad in ("ab", "upi:a b"):
            with pytest.raises(LedgerError, match="malformed account"):
                JournalEntry(
                    uuid.uuid4(),
                    "correction",  # type: ignore[arg-type]
                    T0,
                    "bad",
                    (Posting(bad, inr(5)), Posting("upi:clearing", inr(-5))),
                    ref_entry_id=uuid.uuid4(),
                )


def test_the_payment_entry_id_is_the_same_computed_or_remembered() -> None:
    made = payment()
    first = payment_entry_id(made.id)
    assert first == uuid.uuid5(uuid.UUID("6f1d7e0c-3b8a-5d4e-9c2f-0a1b2c3d4e5f"), f"payment:{made.id}")
    assert payment_entry_id(made.id) == first == completed_payment_entry(made, T0).id


def test_bound_sets_the_ids_for_the_block_only_and_leaves_none_alone() -> None:
    with bound(request_id="req-outer"):
        with bound(payment_id="pay-1", request_id=None):
            assert (request_id_var.get(), payment_id_var.get()) == ("req-outer", "pay-1")
        assert (request_id_var.get(), payment_id_var.get()) == ("req-outer", None)
    assert (request_id_var.get(), payment_id_var.get()) == (None, None)
    with pytest.raises(RuntimeError), bound(payment_id="pay-2"):
        raise RuntimeError("boom")
    assert payment_id_var.get() is None
