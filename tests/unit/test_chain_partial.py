"""Verification from a published head: ``export --since SEQ`` carries the verifier's state at SEQ,
which the signed head at SEQ commits to, so the records after it are verified alone (docs/ledger.md §4)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from flosspay import ledger_verify
from flosspay.application.ledger_audit import export_lines, export_since, state_at
from flosspay.application.ledger_chain import chain_all
from flosspay.application.ledger_corrections import reverse_entry
from flosspay.domain.chain import Checkpoint, RefundHistoryFacts, head_message, signed_head_line
from flosspay.domain.ledger import LedgerError, payment_entry_id, refund_entry
from flosspay.domain.money import Money
from flosspay.domain.rail import Outcome, RailResult
from flosspay.ledger_verify import ChainVerifier
from flosspay.ledger_verify.snapshot import load_state, state_digest, state_items, state_lines
from tests.unit.test_ledger import World

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _refund(world: World, payment_id: uuid.UUID, amount: int, final: str = "SUCCEEDED") -> None:
    store = world.uow.store
    rid = uuid.uuid4()
    at = world.clock.now()
    steps = [(None, "PENDING"), ("PENDING", "PROCESSING"), ("PROCESSING", final)]
    for index, (frm, to) in enumerate(steps):
        store.add_refund_history(RefundHistoryFacts(rid, index, frm, to, None, at, payment_id, "INR", amount, "c1", to))
    if final == "SUCCEEDED":
        store.refund_reserved[payment_id] = store.refund_reserved.get(payment_id, 0) + amount
        entry = refund_entry(store.entries[payment_entry_id(payment_id)], rid, Money(amount, "INR"), at)
        store.entries[entry.id] = entry
        store.sources.append(entry.facts())


def _head(world: World, tmp_path: Path, name: str) -> tuple[Path, int]:
    """``flosspay ledger head --signed``, as the CLI writes it."""
    chain_all(uow_factory=world.uow, clock=world.clock)
    report, lines = state_at(None, uow_factory=world.uow, clock=world.clock)
    at = world.clock.now()
    state = state_digest(lines)
    signature = KEY.sign(head_message(report.head_seq, report.head_hash, at, state))
    path = tmp_path / name
    path.write_bytes(signed_head_line(Checkpoint(report.head_seq, report.head_hash, at, PUBLIC, signature), state))
    return path, report.head_seq


def _day_one(tmp_path: Path) -> tuple[World, Path, int, dict[str, uuid.UUID]]:
    world = World()
    ids = {"paid": world.pay(28), "open": world.pay(10, RailResult(Outcome.PENDING, None, "wait"))}
    ids["declined"] = world.pay(5, RailResult(Outcome.DECLINED, "Z9", "no"))
    ids["later"] = world.pay(40)
    _refund(world, ids["paid"], 800)
    _refund(world, ids["later"], 100, final="FAILED")
    head, seq = _head(world, tmp_path, "day1.json")
    return world, head, seq, ids


def _write(lines: list[bytes], path: Path) -> Path:
    path.write_bytes(b"".join(lines))
    return path


def test_the_state_survives_a_round_trip_and_has_one_digest() -> None:
    world = World()
    paid = world.pay(28)
    _refund(world, paid, 800)
    world.pay(10, RailResult(Outcome.PENDING, None, "wait"))
    chain_all(uow_factory=world.uow, clock=world.clock)
    verifier = ChainVerifier(open_end=True)
    assert verifier.verify(export_lines(uow_factory=world.uow, clock=world.clock)).ok
    items = state_items(verifier)
    assert {item[0] for item in items} >= {"payment", "finished", "entry", "held", "checkpoints"}
    copy = ChainVerifier()
    load_state(copy, json.loads(json.dumps(items)))
    assert state_lines(copy) == state_lines(verifier)
    assert all(line.startswith(b'{"state":[') and line.endswith(b"]}\n") for line in state_lines(verifier))


def test_a_day_is_verified_from_the_signed_head_of_the_day_before(tmp_path: Path) -> None:
    world, day1, seq, ids = _day_one(tmp_path)
    # Day two: the open payment ends, a reversal of what a refund left, new payments and a refund.
    world.rail.script = [RailResult(Outcome.COMPLETED, None, "ok")]
    world.clock.advance(5)
    from flosspay.application.policies import ProcessingPolicy
    from flosspay.application.process import process_payment

    process_payment(
        ids["open"], worker="w", uow_factory=world.uow, rails=world.rails, clock=world.clock, policy=ProcessingPolicy()
    )
    reverse_entry(payment_entry_id(ids["paid"]), "chargeback", uow_factory=world.uow, clock=world.clock)
    fresh = world.pay(12)
    _refund(world, fresh, 200)
    day2, end = _head(world, tmp_path, "day2.json")
    world.pay(7)  # the chain goes on after the new head: the part ends at it all the same
    chain_all(uow_factory=world.uow, clock=world.clock)
    lines = list(export_since(seq, uow_factory=world.uow, clock=world.clock, upto=end))
    part = _write(lines, tmp_path / "part.jsonl")
    start = ledger_verify.read_signed_head(str(day1), [PUBLIC])
    assert start[2] is not None
    report = ledger_verify.verify_file(part, trusted_keys=[PUBLIC], start=(start[0], start[1], start[2]))
    assert report.ok, report.problems
    assert (report.start_seq, report.head_seq) == (seq, end) and end > seq
    assert f"records {seq + 1}..{end}" in ledger_verify.describe(report)
    # The command line: --from the day before, --head today (its state is checked at the end too).
    args = ["--public-key", PUBLIC.hex(), "--from", str(day1), "--head", str(day2), "--quiet"]
    assert ledger_verify.main([str(part), *args]) == 0
    whole = _write(list(export_lines(uow_factory=world.uow, clock=world.clock)), tmp_path / "all.jsonl")
    assert ledger_verify.main([str(whole), "--head", str(day1), "--head", str(day2), "--quiet"]) == 0


def test_a_partial_export_needs_its_head_and_its_state_as_signed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    world, day1, seq, _ = _day_one(tmp_path)
    world.pay(12)
    lines = list(export_since(seq, uow_factory=world.uow, clock=world.clock))
    part = _write(lines, tmp_path / "part.jsonl")
    assert ledger_verify.main([str(part), "--quiet"]) == 1
    assert "is verified from the signed head it starts at" in capsys.readouterr().out
    # A state line changed (a finished payment dropped, so it could start again): the digest differs.
    at = next(i for i, line in enumerate(lines) if line.startswith(b'{"state":["finished"'))
    dropped = lines[:at] + lines[at + 1 :]
    assert ledger_verify.main([str(_write(dropped, tmp_path / "p2.jsonl")), "--from", str(day1), "--quiet"]) == 1
    assert "differs from the one its signed head names" in capsys.readouterr().out
    # The head of another day.
    later, _ = _head(world, tmp_path, "later.json")
    assert ledger_verify.main([str(part), "--from", str(later), "--quiet"]) == 1
    assert "the head it is verified from is at seq" in capsys.readouterr().out
    # A head statement without a state digest cannot start a partial verification.
    plain = tmp_path / "plain.json"
    obj = json.loads(day1.read_text())
    del obj["state"]
    plain.write_text(json.dumps(obj))
    assert ledger_verify.main([str(part), "--from", str(plain), "--quiet"]) == 2


def test_a_signed_state_that_is_not_the_chains_is_named_at_the_end(tmp_path: Path) -> None:
    world, day1, seq, _ = _day_one(tmp_path)
    whole = _write(list(export_lines(uow_factory=world.uow, clock=world.clock)), tmp_path / "all.jsonl")
    obj = json.loads(day1.read_text())
    wrong = bytes(32)
    at = obj["at"]
    from flosspay.domain.chain import parse_time

    signature = KEY.sign(head_message(seq, bytes.fromhex(obj["hash"]), parse_time(at), wrong))
    obj["state"], obj["signature"] = wrong.hex(), signature.hex()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(obj))
    report = ledger_verify.verify_file(
        whole, expected_heads={seq: bytes.fromhex(obj["hash"])}, expected_states={seq: wrong}
    )
    assert [p.what for p in report.problems] == [
        f"the chain's state at seq {seq} differs from the one its signed head names"
    ]


def test_the_operator_exports_since_a_seq_only_from_a_chain_that_verifies() -> None:
    world = World()
    world.pay(28)
    chain_all(uow_factory=world.uow, clock=world.clock)
    with pytest.raises(LedgerError, match="there is no seq 99"):
        list(export_since(99, uow_factory=world.uow, clock=world.clock))
    lines = list(export_since(0, uow_factory=world.uow, clock=world.clock))
    assert json.loads(lines[0])["since"] == {"seq": 0, "hash": "0" * 64}


def test_the_state_is_the_same_whether_memory_or_disk_held_it(tmp_path: Path) -> None:
    world, _, _, _ = _day_one(tmp_path)
    world.pay(12)
    chain_all(uow_factory=world.uow, clock=world.clock)
    lines = list(export_lines(uow_factory=world.uow, clock=world.clock))
    in_memory, on_disk = ChainVerifier(), ChainVerifier(memory_items=1)
    assert in_memory.verify(lines).ok and on_disk.verify(lines).ok
    assert on_disk._spill is not None and len(on_disk._entries) <= 1  # the rest moved out of memory
    assert state_lines(on_disk) == state_lines(in_memory)
