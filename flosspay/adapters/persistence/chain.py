"""The hash chain in SQL: the links, reading them back with their records, the checkpoints.

Writers never touch the chain. The chainer finds what they committed since its last pass, in a
way each backend makes safe: ``chain_postgres`` (by transaction id) and ``chain_sqlite`` (by a
queue that triggers fill).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, select

from flosspay.adapters.persistence import chain_postgres, chain_sqlite
from flosspay.adapters.persistence.chain_postgres import CHAINER_LOCK
from flosspay.adapters.persistence.chain_rows import (
    ENTRY_COLUMNS,
    HISTORY_COLUMNS,
    REFUND_HISTORY_COLUMNS,
    Lines,
    entry_facts,
    history_facts,
    is_entry,
    is_history,
    is_refund_history,
    postings_of,
    refund_history_facts,
)
from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.tables import ledger_chain as chain
from flosspay.adapters.persistence.tables import ledger_checkpoints as checkpoints
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments, refunds
from flosspay.adapters.persistence.tables import refund_history as refund_history
from flosspay.domain.chain import (
    GENESIS,
    HISTORY,
    REFUND_HISTORY,
    ChainedRecord,
    ChainHead,
    ChainLink,
    Checkpoint,
    Facts,
    Pending,
)

__all__ = ["CHAINER_LOCK", "SqlChainRepository"]

_HEAD = select(chain.c.seq, chain.c.hash, chain.c.chained_at).order_by(chain.c.seq.desc()).limit(1)
_INSERT_LINKS = chain.insert()
_LINK_COLUMNS = (
    "seq",
    "kind",
    "payment_id",
    "history_seq",
    "entry_id",
    "source_pos",
    "prev_hash",
    "hash",
    "chained_at",
    "refund_id",
)
_COPY_LINKS = f"COPY {chain.name} ({', '.join(_LINK_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_COPY_TYPES = ["int8", "text", "uuid", "int4", "uuid", "int8", "bytea", "bytea", "timestamptz", "uuid"]
_READ = (
    select(chain, *HISTORY_COLUMNS, *REFUND_HISTORY_COLUMNS, *ENTRY_COLUMNS)
    .select_from(
        chain.outerjoin(
            history,
            and_(
                is_history(chain.c.kind),
                history.c.payment_id == chain.c.payment_id,
                history.c.seq == chain.c.history_seq,
            ),
        )
        .outerjoin(payments, and_(is_history(chain.c.kind), payments.c.id == chain.c.payment_id))
        .outerjoin(
            refund_history,
            and_(
                is_refund_history(chain.c.kind),
                refund_history.c.refund_id == chain.c.refund_id,
                refund_history.c.seq == chain.c.history_seq,
            ),
        )
        .outerjoin(refunds, and_(is_refund_history(chain.c.kind), refunds.c.id == chain.c.refund_id))
        .outerjoin(entries, and_(is_entry(chain.c.kind), entries.c.id == chain.c.entry_id))
    )
    .where(chain.c.seq > bindparam("b_after"))
    .order_by(chain.c.seq)
    .limit(bindparam("b_limit"))
)
_INSERT_CHECKPOINT = checkpoints.insert()
_LAST_CHECKPOINT = select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1)
_CHECKPOINTS = (
    select(checkpoints)
    .where(checkpoints.c.seq > bindparam("b_after"), checkpoints.c.seq <= bindparam("b_upto"))
    .order_by(checkpoints.c.seq)
)


def _checkpoint(row: RowMapping) -> Checkpoint:
    return Checkpoint(
        seq=row["seq"],
        hash=bytes(row["hash"]),
        at=row["at"],
        key=bytes(row["public_key"]) if row["public_key"] is not None else None,
        signature=bytes(row["signature"]) if row["signature"] is not None else None,
        prev=bytes(row["prev_hash"]) if row["prev_hash"] is not None else None,
    )


_HISTORY_AT = len(chain.c)  # a read row: the link's columns, then each kind's source columns
_REFUND_HISTORY_AT = _HISTORY_AT + len(HISTORY_COLUMNS)
_ENTRY_AT = _REFUND_HISTORY_AT + len(REFUND_HISTORY_COLUMNS)
assert tuple(column.name for column in chain.c) == _LINK_COLUMNS  # the order _chained unpacks


def _chained(row: Sequence[Any], lines: Lines) -> ChainedRecord:
    seq, kind, payment_id, history_seq, entry_id, source_pos, prev_hash, digest, _, refund_id = row[:_HISTORY_AT]
    link = ChainLink(
        seq=seq,
        kind=kind,
        payment_id=payment_id,
        history_index=history_seq,
        entry_id=entry_id,
        source_pos=source_pos,
        prev_hash=bytes(prev_hash),
        hash=bytes(digest),
        refund_id=refund_id,
    )
    facts: Facts | None = None
    problem = None
    if link.kind == HISTORY:
        if row[_HISTORY_AT] is None:
            problem = f"source record missing: history row {link.history_index} of payment {link.payment_id}"
        elif row[_REFUND_HISTORY_AT - 1] is None:  # the payment's id, last of its columns
            problem = f"source record missing: payment {link.payment_id}"
        else:
            facts = history_facts(row[_HISTORY_AT:])
    elif link.kind == REFUND_HISTORY:
        if row[_REFUND_HISTORY_AT] is None:
            problem = f"source record missing: history row {link.history_index} of refund {link.refund_id}"
        elif row[_ENTRY_AT - 1] is None:  # the refund's id
            problem = f"source record missing: refund {link.refund_id}"
        else:
            facts = refund_history_facts(row[_REFUND_HISTORY_AT:])
    elif row[_ENTRY_AT] is None:
        problem = f"source record missing: journal entry {link.entry_id}"
    else:
        facts = entry_facts(row[_ENTRY_AT:], lines.get(row[_ENTRY_AT], ()))
    return ChainedRecord(link, facts, problem)


class SqlChainRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def try_lock(self) -> bool:
        if not self._db.is_postgres:
            return True  # the transaction began with BEGIN IMMEDIATE: it is the only writer
        return chain_postgres.try_lock(self._db)

    def head(self) -> ChainHead:
        row = self._db.execute(_HEAD).first()
        if row is None:
            return ChainHead(0, GENESIS)
        return ChainHead(row.seq, bytes(row.hash), row.chained_at)

    def pending(self, limit: int) -> list[Pending]:
        if self._db.is_postgres:
            return chain_postgres.pending(self._db, limit)
        return chain_sqlite.pending(self._db, limit)

    def append(self, links: Sequence[ChainLink], at: datetime) -> None:
        if not links:
            return
        rows = [
            (
                link.seq,
                link.kind,
                link.payment_id if link.kind == HISTORY else None,
                link.history_index,
                link.entry_id,
                link.source_pos,
                link.prev_hash,
                link.hash,
                at,
                link.refund_id if link.kind == REFUND_HISTORY else None,
            )
            for link in links
        ]
        if self._db.is_postgres:
            self._copy(rows)
            return
        self._db.execute(_INSERT_LINKS, [dict(zip(_LINK_COLUMNS, row, strict=True)) for row in rows])
        chain_sqlite.dequeue(self._db, max(link.source_pos for link in links))

    def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL's COPY: one stream for the whole batch, several times faster than INSERTs.

        Binary, with the columns' types given: half the client CPU of text COPY per row (measured, ADR 0023).
        """
        with self._db.driver() as raw, raw.cursor() as cursor, cursor.copy(_COPY_LINKS) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                copy.write_row(row)

    def read(self, after_seq: int, limit: int) -> list[ChainedRecord]:
        params = {"b_after": after_seq, "b_limit": limit}
        rows: Sequence[Sequence[Any]]
        if self._db.is_postgres:
            rows = chain_postgres.fetch(self._db, chain_postgres.compiled(_READ, self._db.engine.dialect), params)
            lines = chain_postgres.postings_of(self._db, [row[_ENTRY_AT] for row in rows if row[_ENTRY_AT] is not None])
        else:
            rows = self._db.execute(_READ, params).all()
            lines = postings_of(self._db, [row[_ENTRY_AT] for row in rows if row[_ENTRY_AT] is not None])
        return [_chained(row, lines) for row in rows]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute(
            _INSERT_CHECKPOINT,
            {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "at": checkpoint.at,
                "public_key": checkpoint.key,
                "signature": checkpoint.signature,
                "prev_hash": checkpoint.prev,
            },
        )

    def last_checkpoint(self) -> Checkpoint | None:
        row = self._db.execute(_LAST_CHECKPOINT).mappings().first()
        return _checkpoint(row) if row is not None else None

    def checkpoints(self, after_seq: int, upto_seq: int) -> list[Checkpoint]:
        rows = self._db.execute(_CHECKPOINTS, {"b_after": after_seq, "b_upto": upto_seq}).mappings()
        return [_checkpoint(row) for row in rows]
