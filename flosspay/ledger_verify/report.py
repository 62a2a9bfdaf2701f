"""What a verification found: problems at sequence numbers, the report, its summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from flosspay.domain.chain import (
    GENESIS,
)

AT_START = -1.0
AT_END = float("inf")
"""Ranks of problems of the export as a whole: before or after every record."""


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, at which sequence number (0: the export as a whole)."""

    seq: int
    what: str
    rank: float = field(default=0.0, compare=False, repr=False)
    """Where in the file it was found (seq; before or after every record for the export as a whole)."""

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.what}" if self.seq else self.what


@dataclass
class Report:
    records: int = 0
    """Records in the chain checked, i.e. the head's sequence number."""
    head_seq: int = 0
    head_hash: bytes = GENESIS
    checkpoints: int = 0
    signed_checkpoints: int = 0
    unchecked_signatures: int = 0
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0
    start_seq: int = 0
    """A partial export: the seq of the signed head it starts after (0: the whole chain)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def describe(report: Report) -> str:
    """A short human summary of a report (the first problem first)."""
    head = f"head seq {report.head_seq} hash {report.head_hash.hex()}"
    checkpoints = f"{report.checkpoints} checkpoint(s), {report.signed_checkpoints} with a verified signature"
    if report.unchecked_signatures:
        checkpoints += f", {report.unchecked_signatures} signature(s) not checked"
    records = f"{report.records} records"
    if report.start_seq:
        records = f"records {report.start_seq + 1}..{report.records} (after the signed head at seq {report.start_seq})"
    if report.ok:
        return f"ledger OK: {records}, {head}; {checkpoints}"
    first = report.problems[0]
    where = f"at seq {first.seq}" if first.seq else "in the export"
    lines = [f"ledger verification FAILED {where}: {first.what}"]
    lines += [f"  also: {p}" for p in report.problems[1:]]
    if report.more_problems:
        lines.append(f"  ... and {report.more_problems} more problem(s)")
    lines.append(f"checked {records}, {head}; {checkpoints}")
    return "\n".join(lines)


def merge_reports(links: Report, rules: Report, max_problems: int = 100) -> Report:
    """One report from the two halves of a split verification (chain checks and ledger rules)."""
    problems = sorted([*links.problems, *rules.problems], key=lambda p: p.rank)
    return Report(
        records=links.records,
        head_seq=links.head_seq,
        head_hash=links.head_hash,
        checkpoints=links.checkpoints,
        signed_checkpoints=links.signed_checkpoints,
        unchecked_signatures=links.unchecked_signatures,
        problems=problems[:max_problems],
        more_problems=links.more_problems + rules.more_problems + max(0, len(problems) - max_problems),
        start_seq=links.start_seq,
    )
