"""The hash chain in SQL: which committed records wait to be chained, the links, the checkpoints.

Writers never touch the chain. The chainer finds what they committed since its last pass:

- PostgreSQL: history rows and entries carry ``tx``, the id of the transaction that wrote them.
  Rows whose ``tx`` is below the snapshot's ``xmin`` belong to transactions that have all ended,
  so no row can still appear before them; they are chained in ``(tx, key)`` order after the
  newest link of their kind. An advisory lock keeps it to one chainer at a time.
- SQLite: writers are serialized, and triggers queue each new record in commit order
  (``ledger_chain_queue``); the chainer takes the queue's head and deletes what it chained.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Label,
    RowMapping,
    Select,
    Uuid,
    and_,
    bindparam,
    delete,
    literal_column,
    select,
    text,
    tuple_,
)

from flosspay.adapters.persistence.connection import GuardedConnection
from flosspay.adapters.persistence.failures import reraise
from flosspay.adapters.persistence.tables import ledger_chain as chain
from flosspay.adapters.persistence.tables import ledger_chain_queue as queue
from flosspay.adapters.persistence.tables import ledger_checkpoints as checkpoints
from flosspay.adapters.persistence.tables import ledger_entries as entries
from flosspay.adapters.persistence.tables import ledger_postings as postings
from flosspay.adapters.persistence.tables import payment_history as history
from flosspay.adapters.persistence.tables import payments
from flosspay.domain.chain import (
    ENTRY,
    GENESIS,
    HISTORY,
    ChainedRecord,
    ChainHead,
    ChainLink,
    Checkpoint,
    EntryFacts,
    Facts,
    HistoryFacts,
    Pending,
)

# Any fixed number, distinct from the migration lock: one chainer at a time across processes.
CHAINER_LOCK = 7_413_205_282

_HISTORY_COLUMNS: list[Label[Any]] = [
    history.c.payment_id.label("h_payment_id"),
    history.c.seq.label("h_seq"),
    history.c.from_status.label("h_from"),
    history.c.to_status.label("h_to"),
    history.c.attempt.label("h_attempt"),
    history.c.at.label("h_at"),
    history.c.reason.label("h_reason"),
    payments.c.id.label("p_id"),
    payments.c.flow.label("p_flow"),
    payments.c.currency.label("p_currency"),
    payments.c.amount_minor.label("p_amount"),
    payments.c.client_id.label("p_client"),
    payments.c.rail.label("p_rail"),
]
_ENTRY_COLUMNS: list[Label[Any]] = [
    entries.c.id.label("e_id"),
    entries.c.kind.label("e_kind"),
    entries.c.payment_id.label("e_payment_id"),
    entries.c.ref_entry_id.label("e_ref"),
    entries.c.posted_at.label("e_posted_at"),
    entries.c.description.label("e_description"),
]

# Read once per pass and bound into both queries: in READ COMMITTED each statement has its own
# snapshot, and a transaction that ended between the two would otherwise have its entry chained
# while its history rows (read first) were still left for later.
_SELECT_XMIN = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
_XMIN = bindparam("b_xmin", type_=BigInteger())
_CURSOR_TX = bindparam("c_tx", type_=BigInteger())


def _pg_pending_history() -> Select[Any]:
    return (
        select(*_HISTORY_COLUMNS, history.c.tx.label("pos"))
        .select_from(history.join(payments, payments.c.id == history.c.payment_id))
        .where(
            history.c.tx.is_not(None),
            history.c.tx >= _CURSOR_TX,
            history.c.tx < _XMIN,
            tuple_(history.c.tx, history.c.payment_id, history.c.seq)
            > tuple_(_CURSOR_TX, bindparam("c_pid", type_=Uuid()), bindparam("c_seq", type_=Integer())),
        )
        .order_by(history.c.tx, history.c.payment_id, history.c.seq)
        .limit(bindparam("b_limit"))
    )


def _pg_pending_entries() -> Select[Any]:
    return (
        select(*_ENTRY_COLUMNS, entries.c.tx.label("pos"))
        .where(
            entries.c.tx.is_not(None),
            entries.c.tx >= _CURSOR_TX,
            entries.c.tx <= bindparam("b_max_tx", type_=BigInteger()),
            entries.c.tx < _XMIN,
            tuple_(entries.c.tx, entries.c.id) > tuple_(_CURSOR_TX, bindparam("c_id", type_=Uuid())),
        )
        .order_by(entries.c.tx, entries.c.id)
        .limit(bindparam("b_limit"))
    )


_PG_PENDING_HISTORY = _pg_pending_history()
_PG_PENDING_ENTRIES = _pg_pending_entries()


def _is_history(kind: ColumnElement[str]) -> ColumnElement[bool]:
    return kind == literal_column(f"'{HISTORY}'")


def _is_entry(kind: ColumnElement[str]) -> ColumnElement[bool]:
    return kind == literal_column(f"'{ENTRY}'")


_SQLITE_PENDING = (
    select(queue.c.id.label("pos"), queue.c.kind.label("kind"), *_HISTORY_COLUMNS, *_ENTRY_COLUMNS)
    .select_from(
        queue.outerjoin(
            history,
            and_(
                _is_history(queue.c.kind),
                history.c.payment_id == queue.c.payment_id,
                history.c.seq == queue.c.history_seq,
            ),
        )
        .outerjoin(payments, payments.c.id == history.c.payment_id)
        .outerjoin(entries, and_(_is_entry(queue.c.kind), entries.c.id == queue.c.entry_id))
    )
    .order_by(queue.c.id)
    .limit(bindparam("b_limit"))
)
_SQLITE_DEQUEUE = delete(queue).where(queue.c.id <= bindparam("b_upto"))

_LAST_OF_KIND = (
    select(chain.c.source_pos, chain.c.payment_id, chain.c.history_seq, chain.c.entry_id)
    .where(chain.c.kind == bindparam("b_kind"))
    .order_by(chain.c.seq.desc())
    .limit(1)
)
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
)
_COPY_LINKS = f"COPY {chain.name} ({', '.join(_LINK_COLUMNS)}) FROM STDIN"
_READ = (
    select(chain, *_HISTORY_COLUMNS, *_ENTRY_COLUMNS)
    .select_from(
        chain.outerjoin(
            history,
            and_(
                _is_history(chain.c.kind),
                history.c.payment_id == chain.c.payment_id,
                history.c.seq == chain.c.history_seq,
            ),
        )
        .outerjoin(payments, and_(_is_history(chain.c.kind), payments.c.id == chain.c.payment_id))
        .outerjoin(entries, and_(_is_entry(chain.c.kind), entries.c.id == chain.c.entry_id))
    )
    .where(chain.c.seq > bindparam("b_after"))
    .order_by(chain.c.seq)
    .limit(bindparam("b_limit"))
)
_POSTINGS = (
    select(postings.c.entry_id, postings.c.account, postings.c.currency, postings.c.amount_minor)
    .where(postings.c.entry_id.in_(bindparam("b_ids", expanding=True)))
    .order_by(postings.c.entry_id, postings.c.line)
)
_INSERT_CHECKPOINT = checkpoints.insert()
_LAST_CHECKPOINT = select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1)
_CHECKPOINTS = (
    select(checkpoints)
    .where(checkpoints.c.seq > bindparam("b_after"), checkpoints.c.seq <= bindparam("b_upto"))
    .order_by(checkpoints.c.seq)
)
_NO_UUID = uuid.UUID(int=0)
_MAX_TX = 2**62


def _history_facts(row: RowMapping) -> HistoryFacts:
    return HistoryFacts(
        payment_id=row["h_payment_id"],
        index=row["h_seq"],
        from_status=row["h_from"],
        to_status=row["h_to"],
        attempt=row["h_attempt"],
        at=row["h_at"],
        flow=row["p_flow"],
        currency=row["p_currency"],
        amount=row["p_amount"],
        client_id=row["p_client"],
        rail=row["p_rail"],
        reason=row["h_reason"],
    )


def _entry_facts(row: RowMapping, lines: list[tuple[str, str, int]]) -> EntryFacts:
    return EntryFacts(
        entry_id=row["e_id"],
        entry_kind=row["e_kind"],
        payment_id=row["e_payment_id"],
        ref_entry_id=row["e_ref"],
        posted_at=row["e_posted_at"],
        postings=tuple(lines),
        description=row["e_description"],
    )


def _checkpoint(row: RowMapping) -> Checkpoint:
    return Checkpoint(
        seq=row["seq"],
        hash=bytes(row["hash"]),
        at=row["at"],
        key=bytes(row["public_key"]) if row["public_key"] is not None else None,
        signature=bytes(row["signature"]) if row["signature"] is not None else None,
    )


class SqlChainRepository:
    def __init__(self, db: GuardedConnection) -> None:
        self._db = db

    def try_lock(self) -> bool:
        if not self._db.is_postgres:
            return True  # the transaction began with BEGIN IMMEDIATE: it is the only writer
        locked = self._db.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CHAINER_LOCK}).scalar()
        return bool(locked)

    def head(self) -> ChainHead:
        row = self._db.execute(_HEAD).first()
        if row is None:
            return ChainHead(0, GENESIS)
        return ChainHead(row.seq, bytes(row.hash), row.chained_at)

    def pending(self, limit: int) -> list[Pending]:
        if self._db.is_postgres:
            return self._pg_pending(limit)
        return self._sqlite_pending(limit)

    def _pg_pending(self, limit: int) -> list[Pending]:
        last = self._db.execute(_LAST_OF_KIND, {"b_kind": HISTORY}).first()
        params: dict[str, Any] = {"b_limit": limit, "c_tx": -1, "c_pid": _NO_UUID, "c_seq": -1}
        if last is not None:
            params |= {"c_tx": last.source_pos, "c_pid": last.payment_id, "c_seq": last.history_seq}
        xmin = self._db.execute(_SELECT_XMIN).scalar_one()
        params["b_xmin"] = xmin
        history_rows = self._db.execute(_PG_PENDING_HISTORY, params).mappings().all()
        last = self._db.execute(_LAST_OF_KIND, {"b_kind": ENTRY}).first()
        # A full batch of history rows ends at some transaction: entries after it cannot make the cut.
        bound = history_rows[-1]["pos"] if len(history_rows) == limit else _MAX_TX
        params = {"b_limit": limit, "c_tx": -1, "c_id": _NO_UUID, "b_max_tx": bound, "b_xmin": xmin}
        if last is not None:
            params |= {"c_tx": last.source_pos, "c_id": last.entry_id}
        entry_rows = self._db.execute(_PG_PENDING_ENTRIES, params).mappings().all()
        # The same order on every pass: by transaction, history before entries, then by key.
        keyed: list[tuple[tuple[Any, ...], RowMapping]] = [
            ((row["pos"], 0, row["h_payment_id"], row["h_seq"]), row) for row in history_rows
        ]
        keyed += [((row["pos"], 1, row["e_id"], 0), row) for row in entry_rows]
        keyed.sort(key=lambda item: item[0])
        chosen = keyed[:limit]
        lines = self._postings([row["e_id"] for key, row in chosen if key[1]])
        return [
            Pending(_entry_facts(row, lines.get(row["e_id"], [])), row["pos"])
            if key[1]
            else Pending(_history_facts(row), row["pos"])
            for key, row in chosen
        ]

    def _sqlite_pending(self, limit: int) -> list[Pending]:
        rows = self._db.execute(_SQLITE_PENDING, {"b_limit": limit}).mappings().all()
        lines = self._postings([row["e_id"] for row in rows if row["e_id"] is not None])
        found: list[Pending] = []
        for row in rows:
            if row["kind"] == HISTORY and row["p_id"] is not None:
                found.append(Pending(_history_facts(row), row["pos"]))
            elif row["kind"] == ENTRY and row["e_id"] is not None:
                found.append(Pending(_entry_facts(row, lines.get(row["e_id"], [])), row["pos"]))
        return found

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
            )
            for link in links
        ]
        if self._db.is_postgres:
            self._copy(rows)
            return
        self._db.execute(_INSERT_LINKS, [dict(zip(_LINK_COLUMNS, row, strict=True)) for row in rows])
        self._db.execute(_SQLITE_DEQUEUE, {"b_upto": max(link.source_pos for link in links)})

    def _copy(self, rows: list[tuple[Any, ...]]) -> None:
        """PostgreSQL's COPY: one stream for the whole batch, several times faster than INSERTs."""
        raw = self._db.connection.connection.driver_connection
        assert isinstance(raw, psycopg.Connection)
        try:
            with raw.cursor() as cursor, cursor.copy(_COPY_LINKS) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            reraise(sqlalchemy.exc.DBAPIError(_COPY_LINKS, None, exc, connection_invalidated=bool(raw.closed)))

    def read(self, after_seq: int, limit: int) -> list[ChainedRecord]:
        rows = self._db.execute(_READ, {"b_after": after_seq, "b_limit": limit}).mappings().all()
        lines = self._postings([row["e_id"] for row in rows if row["e_id"] is not None])
        return [self._chained(row, lines) for row in rows]

    @staticmethod
    def _chained(row: RowMapping, lines: dict[uuid.UUID, list[tuple[str, str, int]]]) -> ChainedRecord:
        link = ChainLink(
            seq=row["seq"],
            kind=row["kind"],
            payment_id=row["payment_id"],
            history_index=row["history_seq"],
            entry_id=row["entry_id"],
            source_pos=row["source_pos"],
            prev_hash=bytes(row["prev_hash"]),
            hash=bytes(row["hash"]),
        )
        facts: Facts | None = None
        problem = None
        if link.kind == HISTORY:
            if row["h_payment_id"] is None:
                problem = f"source record missing: history row {link.history_index} of payment {link.payment_id}"
            elif row["p_id"] is None:
                problem = f"source record missing: payment {link.payment_id}"
            else:
                facts = _history_facts(row)
        elif row["e_id"] is None:
            problem = f"source record missing: journal entry {link.entry_id}"
        else:
            facts = _entry_facts(row, lines.get(row["e_id"], []))
        return ChainedRecord(link, facts, problem)

    def _postings(self, entry_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, str, int]]]:
        lines: dict[uuid.UUID, list[tuple[str, str, int]]] = {}
        if not entry_ids:
            return lines
        rows: Sequence[Any] = self._db.execute(_POSTINGS, {"b_ids": entry_ids}).all()
        for entry_id, account, currency, amount in rows:
            lines.setdefault(entry_id, []).append((account, currency, amount))
        return lines

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute(
            _INSERT_CHECKPOINT,
            {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "at": checkpoint.at,
                "public_key": checkpoint.key,
                "signature": checkpoint.signature,
            },
        )

    def last_checkpoint(self) -> Checkpoint | None:
        row = self._db.execute(_LAST_CHECKPOINT).mappings().first()
        return _checkpoint(row) if row is not None else None

    def checkpoints(self, after_seq: int, upto_seq: int) -> list[Checkpoint]:
        rows = self._db.execute(_CHECKPOINTS, {"b_after": after_seq, "b_upto": upto_seq}).mappings()
        return [_checkpoint(row) for row in rows]
