"""Chained checkpoints (format version 2): each names the digest of the one before it, so a removed,
added, reordered or changed checkpoint line is caught; version-1 exports and stored checkpoints
made before version 2 still verify (docs/ledger.md §3, ADR 0014)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from flosspay.application.ledger_audit import export_lines, verify_database
from flosspay.application.ledger_chain import Chainer, ChainPolicy, checkpoint_now
from flosspay.application.ledger_corrections import reverse_entry
from flosspay.domain.chain import GENESIS, Checkpoint, RefundHistoryFacts, checkpoint_line
from flosspay.domain.ledger import LedgerError, payment_entry_id, refund_entry
from flosspay.domain.money import Money
from flosspay.ledger_verify import verify_lines
from tests.unit.test_ledger import World

pytestmark = pytest.mark.unit


def _checkpointed() -> tuple[World, list[bytes]]:
    world = World()
    for _ in range(3):
        world.pay(10)  # 4 records each
    chainer = Chainer(world.uow, world.clock, ChainPolicy(batch=4, checkpoint_every=4))
    while chainer().chained:
        pass
    return world, list(export_lines(uow_factory=world.uow, clock=world.clock))


def _is_checkpoint(line: bytes) -> bool:
    return line.startswith(b'{"checkpoint":')


def test_each_stored_checkpoint_names_the_digest_of_the_one_before() -> None:
    world, lines = _checkpointed()
    stored = world.uow.store.checkpoints
    assert [c.seq for c in stored] == [4, 8, 12]
    assert stored[0].prev == GENESIS
    assert [c.prev for c in stored[1:]] == [c.digest() for c in stored[:-1]]
    assert checkpoint_now(uow_factory=world.uow, clock=world.clock) == stored[-1]  # the head has one already
    assert verify_lines(lines).ok and verify_lines(lines).checkpoints == 3


def test_a_removed_duplicated_or_reordered_checkpoint_line_is_named() -> None:
    _, lines = _checkpointed()
    at = [i for i, line in enumerate(lines) if _is_checkpoint(line)]
    removed = [line for i, line in enumerate(lines) if i != at[1]]
    report = verify_lines(removed)
    assert [p.seq for p in report.problems] == [12]
    assert report.problems[0].what.startswith("checkpoint at seq 12 names previous checkpoint ")
    duplicated = [*lines[: at[0] + 1], lines[at[0]], *lines[at[0] + 1 :]]
    assert [p.seq for p in verify_lines(duplicated).problems] == [4]  # the copy names 64 zeros, not the first
    swapped = list(lines)
    swapped[at[1]], swapped[at[2]] = lines[at[2]], lines[at[1]]
    assert verify_lines(swapped).problems[0].seq == 8


def test_checkpoints_made_before_version_2_may_only_come_first() -> None:
    world, _ = _checkpointed()
    store = world.uow.store
    first = store.checkpoints[0]
    legacy = Checkpoint(first.seq, first.hash, first.at)  # signed, if at all, without a previous digest
    store.checkpoints[0] = legacy
    second = store.checkpoints[1]
    store.checkpoints[1] = Checkpoint(second.seq, second.hash, second.at, prev=legacy.digest())
    third = store.checkpoints[2]
    store.checkpoints[2] = Checkpoint(third.seq, third.hash, third.at, prev=store.checkpoints[1].digest())
    assert verify_database(uow_factory=world.uow, clock=world.clock, chain_first=False).ok
    store.checkpoints[2] = Checkpoint(third.seq, third.hash, third.at)  # unchained after a chained one
    report = verify_database(uow_factory=world.uow, clock=world.clock, chain_first=False)
    assert [(p.seq, p.what) for p in report.problems] == [
        (12, "checkpoint at seq 12 names no previous checkpoint, after chained ones")
    ]


def test_a_version_1_export_is_read_with_its_own_checkpoint_layout() -> None:
    _, lines = _checkpointed()
    v1 = [lines[0].replace(b'"version":2', b'"version":1')]
    for line in lines[1:]:
        if _is_checkpoint(line):
            line = line.replace(line[line.index(b',"prev":') : line.index(b',"key":')], b"")
        v1.append(line)
    # Unsigned checkpoints in the version-1 layout (no previous digest, not chained) verify.
    assert verify_lines(v1).ok and verify_lines(v1).checkpoints == 3
    with_prev_in_v1 = [v1[0], *lines[1:]]
    assert any("exactly the keys" in p.what for p in verify_lines(with_prev_in_v1).problems)


def test_a_version_1_checkpoint_line_has_no_prev() -> None:
    legacy = Checkpoint(3, GENESIS, World().clock.now())
    assert b'"prev"' not in checkpoint_line(legacy, 1)
    assert b'"prev":null' in checkpoint_line(legacy)


def test_a_partly_refunded_payment_is_reversed_for_what_is_left_over_the_fakes() -> None:
    world = World()
    paid = world.pay(28)  # 2800 minor units
    store = world.uow.store
    rid = uuid.uuid4()
    at = world.clock.now() + timedelta(seconds=1)
    rows = [(None, "PENDING"), ("PENDING", "PROCESSING"), ("PROCESSING", "SUCCEEDED")]
    for index, (frm, to) in enumerate(rows):
        store.add_refund_history(RefundHistoryFacts(rid, index, frm, to, None, at, paid, "INR", 800, "c1", to))
    store.refund_reserved[paid] = 800
    refund = refund_entry(store.entries[payment_entry_id(paid)], rid, Money(800, "INR"), at)
    store.entries[refund.id] = refund
    store.sources.append(refund.facts())
    store.refund_reserved[paid] = 900  # another refund of 1.00 is pending
    with pytest.raises(LedgerError, match="refund pending or processing"):
        reverse_entry(payment_entry_id(paid), "chargeback", uow_factory=world.uow, clock=world.clock)
    store.refund_reserved[paid] = 800  # it failed, and gave its reservation back
    reversal = reverse_entry(payment_entry_id(paid), "chargeback", uow_factory=world.uow, clock=world.clock)
    assert [p.amount.minor for p in reversal.postings] == [2000, -2000, 2000, -2000]
    assert store.refund_reserved[paid] == 2800
    report = verify_database(uow_factory=world.uow, clock=world.clock)
    assert report.ok, report.problems
    with pytest.raises(LedgerError, match="a refund is not reversed"):
        reverse_entry(refund.id, "no", uow_factory=world.uow, clock=world.clock)
