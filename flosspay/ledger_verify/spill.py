"""Where the verifier keeps what outgrows memory: ended payments' ids and entries, on disk.

The rules need every ended payment's id (so it can never start again) and every entry (a later
reversal, correction or refund may reference it): both grow with the chain. Past a number of
items the verifier moves them here, a private temporary SQLite file (stdlib ``sqlite3``, deleted
when closed), and keeps a fixed-size Bloom filter of the ended ids, so the common question of the
fast path ("has this new payment ended before?", nearly always no) rarely reaches the disk. The
verifier's memory is then bounded by that number of items, whatever the length of the chain.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

BLOOM_BITS = 1 << 27
"""16 MiB of filter: below 1% false positives (each a disk lookup, never a wrong verdict) up to 10 M ids."""


class SpillStore:
    def __init__(self, bloom_bits: int = BLOOM_BITS) -> None:
        self._db = sqlite3.connect("")  # "": a private temporary database on disk
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE finished (key BLOB PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("CREATE TABLE entries (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID")
        self._bloom = bytearray(bloom_bits // 8)
        self._mask = bloom_bits - 1

    def _probes(self, key: bytes) -> tuple[int, int, int]:
        mask = self._mask
        return (
            int.from_bytes(key[0:4], "little") & mask,
            int.from_bytes(key[8:12], "little") & mask,
            int.from_bytes(key[12:16], "little") & mask,
        )

    def add_finished(self, keys: Iterable[bytes]) -> None:
        bloom = self._bloom
        rows = []
        for key in keys:
            for bit in self._probes(key):
                bloom[bit >> 3] |= 1 << (bit & 7)
            rows.append((key,))
        self._db.executemany("INSERT OR IGNORE INTO finished (key) VALUES (?)", rows)

    def has_finished(self, key: bytes) -> bool:
        bloom = self._bloom
        if not all(bloom[bit >> 3] & (1 << (bit & 7)) for bit in self._probes(key)):
            return False
        return self._db.execute("SELECT 1 FROM finished WHERE key = ?", (key,)).fetchone() is not None

    def put_entries(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO entries (key, value) VALUES (?, ?)", items)

    def entry(self, key: bytes) -> bytes | None:
        row = self._db.execute("SELECT value FROM entries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def finished(self) -> Iterator[bytes]:
        """Every ended id, in byte order."""
        for (key,) in self._db.execute("SELECT key FROM finished ORDER BY key"):
            yield bytes(key)

    def entries(self) -> Iterator[tuple[bytes, bytes]]:
        """Every entry, in byte order of its id."""
        for key, value in self._db.execute("SELECT key, value FROM entries ORDER BY key"):
            yield bytes(key), bytes(value)

    def close(self) -> None:
        self._db.close()
