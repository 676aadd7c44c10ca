"""The SQLite content store: items (text, metadata, source offsets) versioned by generation.

Every row carries ``added_gen`` and ``deleted_gen``. A reader of generation g sees the rows with
``added_gen <= g < deleted_gen``. The writer stages its changes at generation g+1, which nobody reads
until the manifest says g+1; so SQLite commits at any time without exposing half a save, and a crashed
save is undone by dropping what was staged beyond the manifest's generation.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ...metadata import metadata_json
from ..items import Item
from .store_members import VISIBLE, MemberReads

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'text',
    text TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    parent TEXT,
    start INTEGER,
    end INTEGER,
    hash TEXT,
    added_gen INTEGER NOT NULL,
    deleted_gen INTEGER
);
CREATE INDEX IF NOT EXISTS items_by_id ON items(id);
CREATE INDEX IF NOT EXISTS items_by_parent ON items(parent);
CREATE INDEX IF NOT EXISTS items_by_added ON items(added_gen);
-- Partial: a row's deleted_gen stays NULL until it is deleted, and every query on the column compares
-- it (implying NOT NULL); an entry per live row cost ~15% of a write's row inserts. Collections made
-- before keep their full index, which the same queries use.
CREATE INDEX IF NOT EXISTS items_by_deleted ON items(deleted_gen) WHERE deleted_gen IS NOT NULL;
CREATE TABLE IF NOT EXISTS vectors (
    space TEXT NOT NULL,
    item INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (space, item)
);
CREATE INDEX IF NOT EXISTS vectors_by_item ON vectors(item);
"""

#: The content store's file in the collection folder.
CONTENT_NAME = "content.sqlite"
_VISIBLE = VISIBLE
_COLUMNS = "rowid, id, kind, text, metadata, parent, start, end, hash"


def _item(row: sqlite3.Row | tuple) -> Item:
    rowid, id_, kind, text, metadata, parent, start, end, hash_ = row
    # Most items carry no metadata: skip the JSON parser for them (a search reads k rows per call).
    return Item(id_, text, {} if metadata == "{}" else json.loads(metadata), parent, start, end, kind, hash_, rowid)


def _matrix(blobs: list[bytes], dimension: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, dimension), dtype=np.float32)
    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32)
    if matrix.size != len(blobs) * dimension:
        raise ValueError(f"stored vectors are not {dimension}-d")
    return matrix.reshape(len(blobs), dimension)


class ContentStore(MemberReads):
    """SQLite access for one collection folder. ``gen`` arguments select the visible snapshot.
    A read-only handle maps the file (``mapped``) unless it only reads it through once."""

    def __init__(self, path: Path, readonly: bool = False, mapped: bool = True):
        self.path = path
        self._snapshot: Path | None = None
        self._frozen = False  # read-only, opened immutable or on a private copy (``follow``)
        self._mapped = mapped
        self.readonly = readonly
        if readonly:
            self.connection = self._open_readonly(path, mapped)
        else:
            self.connection = sqlite3.connect(path, check_same_thread=False)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=FULL")
            self.connection.execute("PRAGMA secure_delete=FAST")
            self.connection.executescript(SCHEMA)
        self.connection.execute("PRAGMA busy_timeout=10000")

    def _open_readonly(self, path: Path, mapped: bool = True) -> sqlite3.Connection:
        """A read-only connection, also on read-only media, where WAL mode cannot create its -shm file:
        then the file is opened immutable, or, when a -wal file still holds commits, a private copy."""
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        try:
            connection.execute("SELECT 1 FROM items LIMIT 1").fetchall()
            # Searches read k random rows per call: mapped pages cost no read() call once touched
            # (1M items: +5% one-query search_vector). WAL keeps a checkpoint from truncating the file
            # under an open read, and SQLite re-maps at each read's start (test_concurrent_readers).
            if mapped:
                connection.execute("PRAGMA mmap_size=2147418112")  # SQLite's compiled-in maximum
            return connection
        except sqlite3.OperationalError as error:
            connection.close()
            if "unable to open" not in str(error) and "readonly" not in str(error):
                raise
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            import shutil
            import tempfile

            self._snapshot = Path(tempfile.mkdtemp(prefix="densekit-readonly-"))
            shutil.copy2(path, self._snapshot / path.name)
            shutil.copy2(wal, self._snapshot / wal.name)
            self._frozen = True
            return sqlite3.connect(f"file:{self._snapshot / path.name}?mode=ro", uri=True, check_same_thread=False)
        self._frozen = True
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)

    def follow(self) -> bool:
        """Open again a read-only store that reads the file as it was when opened (immutable, or a
        private copy: a folder this process cannot write to, no writer active then), so that it
        reads the commits made since; True when it did. A reader calls it when the manifest changed:
        the writer's -wal/-shm may let it read normally now. On read-only media nothing changes."""
        if not self._frozen:
            return False
        self.connection.close()
        self._remove_snapshot()
        self._frozen = False
        self.connection = self._open_readonly(self.path, self._mapped)
        self.connection.execute("PRAGMA busy_timeout=10000")
        return True

    def _remove_snapshot(self) -> None:
        if self._snapshot is not None:
            import shutil

            shutil.rmtree(self._snapshot, ignore_errors=True)
            self._snapshot = None

    def close(self) -> None:
        if not self.readonly:
            try:
                # Fold the WAL into the database file, so a closed collection copied to read-only
                # media opens as it is.
                self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass  # another connection still reads; the next writer's close checkpoints
        self.connection.close()
        self._remove_snapshot()

    # --- writer side -------------------------------------------------------------------------
    def insert(self, items: list[Item], gen: int, commit: bool = True) -> list[int]:
        """Stage items at generation ``gen``; returns their new row ids (never reused). With
        ``commit=False`` the rows belong to the caller's open transaction."""
        if not items:
            return []
        with self._transaction(commit):
            before = self.connection.execute("SELECT max(rowid) FROM items").fetchone()[0] or 0
            self.connection.executemany(
                "INSERT INTO items (id, kind, text, metadata, parent, start, end, hash, added_gen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(item.id, item.kind, item.text, metadata_json(item.metadata),
                  item.parent, item.start, item.end, item.hash, gen) for item in items],
            )
            # AUTOINCREMENT gives each new row an id above every id used before: the rows above the
            # largest id before this statement are these, in order.
            rowids = [rowid for (rowid,) in self.connection.execute(
                "SELECT rowid FROM items WHERE rowid > ? ORDER BY rowid", (before,))]
        return rowids

    def _transaction(self, commit: bool):
        import contextlib

        return self.connection if commit else contextlib.nullcontext()

    def mark_deleted(self, rowids: Iterable[int], gen: int, commit: bool = True) -> None:
        """Hide rows from generation ``gen`` on; rows staged in ``gen`` itself simply go."""
        rows = [(int(rowid),) for rowid in rowids]
        with self._transaction(commit):
            # Their vectors too: nothing else ever removes the vectors of a row that is gone (an id
            # upserted again and again before one commit left a vector row per version behind).
            self.connection.executemany(
                "DELETE FROM vectors WHERE item = ?1 AND EXISTS (SELECT 1 FROM items WHERE rowid = ?1 AND added_gen = "
                + str(int(gen)) + ")", rows
            )
            self.connection.executemany(
                "DELETE FROM items WHERE rowid = ? AND added_gen = " + str(int(gen)), rows
            )
            self.connection.executemany(
                f"UPDATE items SET deleted_gen = {int(gen)} WHERE rowid = ? AND deleted_gen IS NULL", rows
            )

    def discard_after(self, gen: int, vector_keys: set[str] | None = None) -> None:
        """Undo everything staged beyond ``gen`` (a save that never reached its manifest); vectors stored
        under keys other than ``vector_keys`` (a staged new space or re-encoding) go too."""
        with self.connection:
            self.connection.execute("DELETE FROM vectors WHERE item IN (SELECT rowid FROM items WHERE added_gen > ?)", (gen,))
            if vector_keys is not None:
                self._drop_vectors_except(vector_keys)
            self.connection.execute("DELETE FROM items WHERE added_gen > ?", (gen,))
            self.connection.execute("UPDATE items SET deleted_gen = NULL WHERE deleted_gen > ?", (gen,))

    def purge_before(self, gen: int, vector_keys: set[str] | None = None, commit: bool = True) -> None:
        """Physically drop rows deleted at or before ``gen`` (no reader of a current manifest needs them,
        and every checkpoint covers their deletion), with their vectors; and vectors stored under keys
        other than ``vector_keys``."""
        with self._transaction(commit):
            self.connection.execute("DELETE FROM vectors WHERE item IN (SELECT rowid FROM items WHERE deleted_gen <= ?)", (gen,))
            self.connection.execute("DELETE FROM items WHERE deleted_gen <= ?", (gen,))
            if vector_keys is not None:
                self._drop_vectors_except(vector_keys)

    def vacuum(self) -> None:
        """Rewrite the database file without its free pages (``compact``), then fold the WAL in."""
        self.connection.execute("VACUUM")
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def vector_keys(self) -> list[str]:
        """The keys vectors are stored under: one index seek per key, not a scan of every vector."""
        keys: list[str] = []
        while True:
            row = self.connection.execute(
                "SELECT space FROM vectors WHERE space > ? ORDER BY space LIMIT 1", (keys[-1] if keys else "",)).fetchone()
            if row is None:
                return keys
            keys.append(row[0])

    def _drop_vectors_except(self, keys: set[str]) -> None:
        for key in set(self.vector_keys()) - set(keys):
            self.connection.execute("DELETE FROM vectors WHERE space = ?", (key,))

    # --- vectors (vector_log.py) -----------------------------------------------------------------
    def insert_vectors(self, key: str, rowids: np.ndarray, vectors: np.ndarray) -> None:
        """Store vectors under ``key`` (in the caller's transaction)."""
        array = np.ascontiguousarray(vectors, dtype=np.float32)
        self.connection.executemany(
            "INSERT OR REPLACE INTO vectors (space, item, vector) VALUES (?, ?, ?)",
            ((key, int(rowid), row.tobytes()) for rowid, row in zip(rowids.tolist(), array)),
        )

    def vectors_of(self, key: str, rowids: np.ndarray, dimension: int) -> np.ndarray:
        """The stored vectors of these rows under ``key``, in their order (a missing one is an error)."""
        found: dict[int, bytes] = {}
        wanted = [int(rowid) for rowid in rowids]
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" for _ in part)
            found.update(self.connection.execute(
                f"SELECT item, vector FROM vectors WHERE space = ? AND item IN ({marks})", [key, *part]))
        missing = [rowid for rowid in wanted if rowid not in found]
        if missing:
            raise KeyError(f"no stored vector under {key!r} for rows {missing[:5]}")
        return _matrix([found[rowid] for rowid in wanted], dimension)

    def has_vectors(self, key: str) -> bool:
        return self.connection.execute("SELECT 1 FROM vectors WHERE space = ? LIMIT 1", (key,)).fetchone() is not None

    def vectors_added_between(self, key: str, after: int, through: int, dimension: int, batch: int = 5000):
        """(rowids, vectors) of the rows added in generations (after, through] and visible at ``through``."""
        rows = self.connection.execute(
            "SELECT items.rowid, vectors.vector FROM items JOIN vectors ON vectors.item = items.rowid AND vectors.space = ?"
            " WHERE items.added_gen > ? AND items.added_gen <= ? AND (items.deleted_gen IS NULL OR items.deleted_gen > ?)"
            " ORDER BY items.rowid", (key, after, through, through))
        while True:
            part = rows.fetchmany(batch)
            if not part:
                return
            yield np.asarray([rowid for rowid, _ in part], dtype=np.int64), _matrix([blob for _, blob in part], dimension)

    def removed_between(self, after: int, through: int) -> np.ndarray:
        """Rows visible at ``after`` and deleted in generations (after, through]."""
        rows = self.connection.execute(
            "SELECT rowid FROM items WHERE deleted_gen > ? AND deleted_gen <= ? AND added_gen <= ?", (after, through, after)
        ).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    # --- reads -------------------------------------------------------------------------------
    def rowids_for_ids(self, ids: list[str], gen: int) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" for _ in part)
            for rowid, id_ in self.connection.execute(
                f"SELECT rowid, id FROM items WHERE id IN ({marks}) AND {_VISIBLE.replace(':gen', str(int(gen)))}",
                part,
            ):
                found.setdefault(id_, []).append(int(rowid))
        return found

    def rowids_for_parent(self, parent: str, gen: int) -> list[int]:
        return [
            int(row[0])
            for row in self.connection.execute(
                f"SELECT rowid FROM items WHERE parent = :parent AND {_VISIBLE}", {"parent": parent, "gen": gen}
            )
        ]

    def rowids_for_parents(self, parents: list[str], gen: int) -> list[int]:
        found: list[int] = []
        visible = _VISIBLE.replace(":gen", str(int(gen)))
        for start in range(0, len(parents), 500):
            part = parents[start : start + 500]
            marks = ", ".join("?" for _ in part)
            found += [int(row[0]) for row in self.connection.execute(
                f"SELECT rowid FROM items WHERE parent IN ({marks}) AND {visible}", part)]
        return found

    def parent_hash(self, parent: str, gen: int) -> str | None:
        row = self.connection.execute(
            f"SELECT hash FROM items WHERE parent = :parent AND {_VISIBLE} LIMIT 1", {"parent": parent, "gen": gen}
        ).fetchone()
        return row[0] if row else None

    def items_for_ids(self, ids: list[str], gen: int) -> list[Item]:
        found: list[Item] = []
        visible = _VISIBLE.replace(":gen", str(int(gen)))
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join("?" for _ in part)
            rows = self.connection.execute(f"SELECT {_COLUMNS} FROM items WHERE id IN ({marks}) AND {visible}", part)
            found += [_item(row) for row in rows]
        return found

    def id_page(self, after: int, limit: int, gen: int) -> list[tuple[int, str]]:
        """(rowid, id) of the next ``limit`` visible items after rowid ``after``."""
        rows = self.connection.execute(
            f"SELECT rowid, id FROM items WHERE rowid > :after AND {_VISIBLE} ORDER BY rowid LIMIT :limit",
            {"after": after, "limit": limit, "gen": gen},
        ).fetchall()
        return [(int(rowid), id_) for rowid, id_ in rows]

    def rows(self, after: int, batch: int, gen: int) -> list[Item]:
        """The next ``batch`` visible items after rowid ``after``, in row order."""
        rows = self.connection.execute(
            f"SELECT {_COLUMNS} FROM items WHERE rowid > :after AND {_VISIBLE} ORDER BY rowid LIMIT :batch",
            {"gen": gen, "after": after, "batch": batch},
        ).fetchall()
        return [_item(row) for row in rows]

    def by_rowids(self, rowids: Iterable[int]) -> dict[int, Item]:
        wanted = [int(rowid) for rowid in rowids]
        found: dict[int, Item] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" for _ in part)
            for row in self.connection.execute(f"SELECT {_COLUMNS} FROM items WHERE rowid IN ({marks})", part):
                item = _item(row)
                found[item.rowid] = item
        return found

    def count(self, gen: int, kind: str | None = None) -> int:
        condition = "" if kind is None else " AND kind = :kind"
        row = self.connection.execute(
            f"SELECT COUNT(*) FROM items WHERE {_VISIBLE}{condition}", {"gen": gen, "kind": kind}
        ).fetchone()
        return int(row[0])

    def index_key(self, key: str) -> bool:
        """An expression index on one metadata key, so filters on it read the index instead of every
        row (the filter compiles to the same expression). Returns False when it existed already."""
        import hashlib

        from .filters import key_expression

        name = "items_by_key_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        exists = self.connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)).fetchone()
        with self.connection:
            # Covering (the generations too): a filter reads only the index, never the rows themselves.
            self.connection.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON items({key_expression(key)}, added_gen, deleted_gen)')
        return exists is None

    def indexed_keys_sql(self) -> list[str]:
        return [row[0] for row in self.connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'items_by_key_%'")]

    def key_counts(self, gen: int) -> dict[str, int]:
        """Each top-level metadata key of the visible items and how many have it (a full scan: only for
        collections made before the manifest kept these counts)."""
        rows = self.connection.execute(
            f"SELECT key, count(*) FROM items, json_each(items.metadata) WHERE {_VISIBLE.replace(':gen', str(int(gen)))} GROUP BY key"
        ).fetchall()
        return {key: int(count) for key, count in rows}

    def filter_rowids(self, condition: tuple[str, list[Any]], gen: int) -> np.ndarray:
        """Rowids of the visible items that pass a compiled filter (``filters.conditions_to_sql``)."""
        condition, parameters = condition
        # The unary + keeps the planner off the generation indexes (every row passes them), so an
        # index on a filtered key is the one it reads.
        visible = f"+added_gen <= {int(gen)} AND (+deleted_gen IS NULL OR +deleted_gen > {int(gen)})"
        sql = f"SELECT rowid FROM items WHERE {visible} AND {condition}"
        rows = self.connection.execute(sql, parameters).fetchall()
        return np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))

    def iterate(self, gen: int, kind: str | None = None, batch: int = 1000) -> Iterator[list[Item]]:
        """Visible items in row order, in lists of ``batch``."""
        condition = "" if kind is None else " AND kind = :kind"
        last = -1
        while True:
            rows = self.connection.execute(
                f"SELECT {_COLUMNS} FROM items WHERE rowid > :last AND {_VISIBLE}{condition}"
                " ORDER BY rowid LIMIT :batch",
                {"gen": gen, "kind": kind, "last": last, "batch": batch},
            ).fetchall()
            if not rows:
                return
            yield [_item(row) for row in rows]
            last = rows[-1][0]

    def parents(self, gen: int) -> dict[str, str | None]:
        """Each source document (parent) and its content hash."""
        return dict(
            self.connection.execute(
                f"SELECT parent, MAX(hash) FROM items WHERE parent IS NOT NULL AND {_VISIBLE} GROUP BY parent",
                {"gen": gen},
            ).fetchall()
        )
