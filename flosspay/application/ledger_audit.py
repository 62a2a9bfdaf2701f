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
    record_line,
)
from flosspay.domain.ports import CheckpointSigner, Clock, UnitOfWorkFactory
from flosspay.ledger_verify import Report, SignatureCheck, verify_lines

READ_BATCH = 2000


def export_lines(*, uow_factory: UnitOfWorkFactory, clock: Clock, batch: int = READ_BATCH) -> Iterator[bytes]:
    """The chain up to its head when the export starts: header, records with checkpoints, end line.

    Each batch is read in a transaction of its own, so a long export never holds one open.
    """
    yield header_line(clock.now())
    with uow_factory() as uow:
        upto = uow.chain.head().seq
    after = 0
    last_hash = GENESIS
    last_seq = 0
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
