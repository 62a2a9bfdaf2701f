"""The chain's head, as ``GET /api/v1/ledger/head`` shows it: what an auditor writes down and later
holds the operator to (``flosspay ledger verify --expect SEQ:HASH``)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from flosspay.domain.chain import Checkpoint
from flosspay.domain.ports import UnitOfWorkFactory


class CheckpointView(msgspec.Struct, frozen=True, rename="camel"):
    seq: int
    hash: str
    at: datetime
    public_key: str | None = None
    signature: str | None = None


class LedgerHeadView(msgspec.Struct, frozen=True, rename="camel"):
    """``seq`` 0 and the genesis hash (64 zeros) while nothing is chained yet."""

    seq: int
    hash: str
    chained_at: datetime | None = None
    checkpoint: CheckpointView | None = None


def checkpoint_view(checkpoint: Checkpoint) -> CheckpointView:
    return CheckpointView(
        seq=checkpoint.seq,
        hash=checkpoint.hash.hex(),
        at=checkpoint.at,
        public_key=checkpoint.key.hex() if checkpoint.key is not None else None,
        signature=checkpoint.signature.hex() if checkpoint.signature is not None else None,
    )


def ledger_head(*, uow_factory: UnitOfWorkFactory) -> LedgerHeadView:
    """The newest link and the newest checkpoint."""
    with uow_factory() as uow:
        head = uow.chain.head()
        last = uow.chain.last_checkpoint()
    return LedgerHeadView(
        seq=head.seq,
        hash=head.hash.hex(),
        chained_at=head.chained_at,
        checkpoint=checkpoint_view(last) if last is not None else None,
    )


def ledger_head_body(*, uow_factory: UnitOfWorkFactory) -> bytes:
    return msgspec.json.encode(ledger_head(uow_factory=uow_factory))
