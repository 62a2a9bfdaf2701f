"""The chainer: link committed history rows and journal entries into the hash chain, afterwards.

Writers (intake, workers) never touch the chain, so they never wait on a global head. One chainer
at a time (a database lock; other processes skip their turn) appends what has been committed since
its last pass, in one transaction, and now and then a checkpoint of the head.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flosspay.domain.chain import GENESIS, ChainHead, Checkpoint, link_all
from flosspay.domain.errors import ServiceUnavailable
from flosspay.domain.ledger import LedgerError
from flosspay.domain.ports import CheckpointSigner, Clock, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ChainPolicy:
    """``batch``: records linked per transaction; ``checkpoint_every``: records between automatic
    checkpoints (0: only on demand)."""

    batch: int = 1000
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        if self.batch < 1 or self.checkpoint_every < 0:
            raise ValueError("batch must be at least 1 and checkpoint_every not negative")


@dataclass(frozen=True, slots=True)
class ChainPass:
    """What one pass did; ``busy``: another process held the chainer lock, nothing was done."""

    chained: int
    head: ChainHead | None = None
    checkpoint: Checkpoint | None = None
    busy: bool = False


def make_checkpoint(
    head: ChainHead, clock: Clock, signer: CheckpointSigner | None, last: Checkpoint | None = None
) -> Checkpoint:
    """A checkpoint of ``head`` chained to ``last``, the newest stored one (docs/ledger.md §3)."""
    at = clock.now()
    prev = last.digest() if last is not None else GENESIS
    unsigned = Checkpoint(head.seq, head.hash, at, prev=prev)
    if signer is None:
        return unsigned
    return Checkpoint(head.seq, head.hash, at, signer.public_key, signer.sign(unsigned.message()), prev)


def chain_pending(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ChainPolicy = ChainPolicy(),
    signer: CheckpointSigner | None = None,
) -> ChainPass:
    """Link up to ``policy.batch`` committed records; add a checkpoint when one is due."""
    with uow_factory() as uow:
        if not uow.chain.try_lock():
            return ChainPass(0, busy=True)
        pending = uow.chain.pending(policy.batch)
        if not pending:
            return ChainPass(0)
        head = uow.chain.head()
        links = link_all(head.seq, head.hash, pending)
        now = clock.now()
        uow.chain.append(links, now)
        head = ChainHead(links[-1].seq, links[-1].hash, now)
        checkpoint = None
        if policy.checkpoint_every:
            last = uow.chain.last_checkpoint()
            if head.seq - (last.seq if last is not None else 0) >= policy.checkpoint_every:
                checkpoint = make_checkpoint(head, clock, signer, last)
                uow.chain.add_checkpoint(checkpoint)
        uow.commit()
    return ChainPass(len(links), head, checkpoint)


def chain_all(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    policy: ChainPolicy = ChainPolicy(),
    signer: CheckpointSigner | None = None,
    max_busy_passes: int = 100,
) -> int:
    """Chain until nothing committed is left unchained; returns how many records were linked.

    Waits out another chainer (it is doing the same work) for up to ``max_busy_passes`` tries.
    """
    total = 0
    busy = 0
    while True:
        result = chain_pending(uow_factory=uow_factory, clock=clock, policy=policy, signer=signer)
        total += result.chained
        if result.busy:
            busy += 1
            if busy >= max_busy_passes:
                raise ServiceUnavailable("another process holds the chainer lock; try again")
            _pause(busy)
            continue
        if result.chained < policy.batch:
            return total


def _pause(attempt: int) -> None:
    time.sleep(min(0.2, 0.01 * attempt))


def checkpoint_now(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, signer: CheckpointSigner | None = None
) -> Checkpoint:
    """Chain what is pending, then record (and sign) a checkpoint of the head now."""
    chain_all(uow_factory=uow_factory, clock=clock, policy=ChainPolicy(checkpoint_every=0), signer=signer)
    with uow_factory() as uow:
        if not uow.chain.try_lock():
            raise ServiceUnavailable("another process holds the chainer lock; try again")
        head = uow.chain.head()
        if head.seq == 0:
            raise LedgerError("the chain is empty: nothing to checkpoint yet")
        last = uow.chain.last_checkpoint()
        if last is not None and last.seq == head.seq and (signer is None or last.signature is not None):
            return last
        if last is not None and last.seq == head.seq:
            raise LedgerError(f"seq {head.seq} already has an unsigned checkpoint; chain more records first")
        checkpoint = make_checkpoint(head, clock, signer, last)
        uow.chain.add_checkpoint(checkpoint)
        uow.commit()
    return checkpoint


@dataclass(frozen=True, slots=True)
class Chainer:
    """One chaining pass with fixed ports and settings: what the relay loop calls each turn."""

    uow_factory: UnitOfWorkFactory
    clock: Clock
    policy: ChainPolicy = ChainPolicy()
    signer: CheckpointSigner | None = None

    def __call__(self) -> ChainPass:
        return chain_pending(uow_factory=self.uow_factory, clock=self.clock, policy=self.policy, signer=self.signer)
