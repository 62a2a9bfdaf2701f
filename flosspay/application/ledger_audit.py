"""Export the chain as JSON Lines, and verify the live database with the export's own verifier.

The live check streams exactly the lines an export would contain (records recomputed from the
source rows, stored hashes, checkpoints) into ``ChainVerifier``: one algorithm for both, so an
auditor's offline run and the operator's online run can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from flosspay.application.ledger_chain import ChainPolicy, chain_all
from flosspay.domain.chain import (
    GENESIS,
    Checkpoint,
    checkpoint_line,
    end_line,
    header_line,
    partial_header_line,
    record_line,
)
from flosspay.domain.ledger import LedgerError
from flosspay.domain.ports import CheckpointSigner, Clock, UnitOfWorkFactory
from flosspay.ledger_verify import ChainVerifier, Report, SignatureCheck, verify_lines
from flosspay.ledger_verify.snapshot import state_lines

READ_BATCH = 2000


def export_lines(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = READ_BATCH, upto: int | None = None
) -> Iterator[bytes]:
    """The chain up to its head when the export starts (or up to seq ``upto``): header, records with
    checkpoints, end line.

    Each batch is read in a transaction of its own, so a long export never holds one open.
    """
    yield header_line(clock.now())
    yield from _records(uow_factory=uow_factory, batch=batch, after=0, prev_hash=GENESIS, upto=upto)


def export_since(
    since: int, *, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = READ_BATCH, upto: int | None = None
) -> Iterator[bytes]:
    """``export --since SEQ``: the records after ``since``, preceded by the verifier's state there.

    The state is taken by verifying the chain up to ``since`` (the operator's cost, once); an
    auditor holding the signed head at ``since`` then checks the part alone (docs/ledger.md §4).
    Raises LedgerError if the chain does not verify up to there, or ``since`` is beyond its head.
    ``upto``: end the part at that seq (a signed head's), not at the head when the export starts.
    """
    if upto is not None and upto < since:
        raise LedgerError(f"--upto {upto} is before --since {since}")
    report, lines = state_at(since, uow_factory=uow_factory, clock=clock, batch=batch)
    yield partial_header_line(clock.now(), since, report.head_hash)
    yield from lines
    yield from _records(uow_factory=uow_factory, batch=batch, after=since, prev_hash=report.head_hash, upto=upto)


def state_at(
    seq: int | None, *, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = READ_BATCH
) -> tuple[Report, list[bytes]]:
    """Verify the chain up to ``seq`` (None: its head) and return the report and the state lines there."""
    with uow_factory() as uow:
        head = uow.chain.head().seq
    if seq is not None and not 0 <= seq <= head:
        raise LedgerError(f"the chain ends at seq {head}: there is no seq {seq}")
    verifier = ChainVerifier(open_end=True)
    report = verifier.verify(export_lines(uow_factory=uow_factory, clock=clock, batch=batch, upto=seq))
    if not report.ok:
        raise LedgerError(f"the chain does not verify up to seq {report.head_seq}: {report.problems[0]}")
    return report, state_lines(verifier)


def _records(
    *, uow_factory: UnitOfWorkFactory, batch: int, after: int, prev_hash: bytes, upto: int | None
) -> Iterator[bytes]:
    with uow_factory() as uow:
        head = uow.chain.head().seq
    if upto is None or upto > head:
        upto = head
    last_hash = prev_hash
    last_seq = after
    while after < upto:
        with uow_factory() as uow:
            rows = uow.chain.read(after, min(batch, upto - after))
            checkpoints = uow.chain.checkpoints(after, rows[-1].link.seq) if rows else []
        if not rows:
            break
        waiting = list(reversed(checkpoints))
        for row in rows:
            link = row.link
            if link.seq > upto:
                break
            problem = row.problem
            if problem is None and link.seq == last_seq + 1 and link.prev_hash != last_hash:
                problem = f"the stored previous hash differs from the hash stored at seq {last_seq}"
            record = row.facts.record(link.seq) if row.facts is not None else None
            yield record_line(link.seq, link.hash, record, problem)
            last_seq, last_hash = link.seq, link.hash
            while waiting and waiting[-1].seq <= link.seq:
                yield checkpoint_line(waiting.pop())
        after = rows[-1].link.seq
        yield from (checkpoint_line(c) for c in reversed(waiting))
    yield end_line(last_seq, last_hash)


def verify_database(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    check_signature: SignatureCheck | None = None,
    trusted_keys: Iterable[bytes] = (),
    expected_heads: dict[int, bytes] | None = None,
    progress: Callable[[int], None] | None = None,
    chain_first: bool = True,
    signer: CheckpointSigner | None = None,
) -> Report:
    """Chain what is pending (unless told not to), then verify every link from the source rows."""
    if chain_first:
        chain_all(uow_factory=uow_factory, clock=clock, policy=ChainPolicy(checkpoint_every=0), signer=signer)
    lines = export_lines(uow_factory=uow_factory, clock=clock)
    return verify_lines(
        lines,
        check_signature=check_signature,
        trusted_keys=trusted_keys,
        expected_heads=expected_heads,
        progress=progress,
    )


def latest_checkpoint(*, uow_factory: UnitOfWorkFactory) -> Checkpoint | None:
    with uow_factory() as uow:
        return uow.chain.last_checkpoint()
