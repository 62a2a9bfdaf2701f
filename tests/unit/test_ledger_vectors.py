"""docs/ledger-vectors/: every export there gets the verdict expected.json gives it, at that seq.

The same files serve a second implementation of docs/ledger.md, so they must also be exactly what
scripts/ledger_vectors.py writes (a change to the format shows up here first).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from flosspay import ledger_verify

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "docs" / "ledger-vectors"
EXPECTED: dict[str, dict[str, object]] = json.loads((FOLDER / "expected.json").read_text(encoding="utf-8"))


def test_the_vectors_are_what_the_generator_writes(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import ledger_vectors  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    ledger_vectors.write(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in FOLDER.iterdir())
    for name in written:
        assert (tmp_path / name).read_bytes() == (FOLDER / name).read_bytes(), name
    assert sum(1 for n in EXPECTED if n.startswith("valid-")) >= 4
    assert sum(1 for n in EXPECTED if n.startswith("invalid-")) >= 15


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_vector_gets_its_expected_verdict_at_its_seq(name: str) -> None:
    expected = EXPECTED[name]
    args = list(expected.get("args", []))  # type: ignore[call-overload]
    keys = [ledger_verify.parse_public_key(args[i + 1]) for i, a in enumerate(args) if a == "--public-key"]
    for jobs in (1, 2):
        report = ledger_verify.verify_file(FOLDER / name, trusted_keys=keys, jobs=jobs)
        assert report.ok is expected["ok"], (name, report.problems)
        if not expected["ok"]:
            first = report.problems[0]
            assert first.seq == expected["seq"] and str(expected["problem"]) in first.what, (name, first)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_vector_gets_the_same_verdict_with_everything_moved_to_disk(name: str) -> None:
    """Bounded memory: with one item held in memory, ended payments and entries live on disk."""
    expected = EXPECTED[name]
    args = list(expected.get("args", []))  # type: ignore[call-overload]
    keys = [ledger_verify.parse_public_key(args[i + 1]) for i, a in enumerate(args) if a == "--public-key"]
    in_memory = ledger_verify.verify_file(FOLDER / name, trusted_keys=keys, jobs=1)
    on_disk = ledger_verify.verify_file(FOLDER / name, trusted_keys=keys, jobs=1, memory_items=1)
    assert [(p.seq, p.what) for p in on_disk.problems] == [(p.seq, p.what) for p in in_memory.problems]
    assert (on_disk.head_seq, on_disk.head_hash) == (in_memory.head_seq, in_memory.head_hash)


def test_the_command_line_bounds_memory_with_memory_items(capsys: pytest.CaptureFixture[str]) -> None:
    name = "valid-refunds-and-reversal-of-what-is-left.jsonl"
    assert ledger_verify.main([str(FOLDER / name), "--memory-items", "1", "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("ledger OK: ")
    bad = "invalid-refund-after-reversal.jsonl"
    assert ledger_verify.main([str(FOLDER / bad), "--memory-items", "1", "--quiet"]) == 1
    assert "nothing is refunded after a reversal" in capsys.readouterr().out
