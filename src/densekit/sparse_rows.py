"""Where a SegmentedSparseIndex keeps its segments' BLOBs, and the SQL that reads and removes them.

Format 3 (tables made since 2 December 2026): ``<table>_segments`` holds a segment's id and
generations, ``<table>_blobs`` its BLOB (column ``data``, keyed by ``segment``, the segment's id).
Format 2 kept the BLOB in the segment's row and is still read and written as it is. Why apart: a merge
retires the segments it replaces by setting their ``retired_gen``; in a row with the BLOB, SQLite wrote
the whole row again (the record grows from NULL to a number, so every overflow page is written anew:
4.5 ms per 700 KB segment), and an index run's final merge retires every segment the run wrote
(docs/storage.md, "`densekit index` against a fixed reference").
"""

from __future__ import annotations

import sqlite3
from typing import Iterator

from .errors import CollectionError


def blob_table(connection: sqlite3.Connection, table: str) -> str | None:
    """``<table>_blobs`` when the tables keep BLOBs apart (format 3), None when in the segment rows."""
    name = f"{table}_blobs"
    found = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return name if found else None


def create_tables(connection: sqlite3.Connection, table: str) -> None:
    """The segment rows and their BLOBs' table, format 3 (in the caller's transaction)."""
    connection.execute(f"CREATE TABLE {table}_segments (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                       " added_gen INTEGER NOT NULL DEFAULT 0, retired_gen INTEGER)")
    connection.execute(f"CREATE TABLE {table}_blobs (segment INTEGER PRIMARY KEY, data BLOB NOT NULL)")


def select_segments(connection: sqlite3.Connection, table: str, blobs: str | None, where: str,
                    parameters=()) -> Iterator[tuple[int, bytes, int]]:
    """(id, data, added_gen) of the segments matching ``where`` (over the segment rows' columns: id,
    added_gen, retired_gen), by id; a segment without its BLOB is an error, never skipped."""
    source = f"{table}_segments" if blobs is None else f"{table}_segments LEFT JOIN {blobs} ON segment = id"
    for key, data, added in connection.execute(f"SELECT id, data, added_gen FROM {source} WHERE {where} ORDER BY id",
                                                parameters):
        if data is None:
            raise CollectionError(f"sparse tables {table}_*: segment {key} has no data (damaged)")
        yield key, data, added


def segment_data(connection: sqlite3.Connection, table: str, blobs: str | None, key: int) -> bytes | None:
    """One segment's BLOB, or None when it is gone."""
    if blobs is None:
        row = connection.execute(f"SELECT data FROM {table}_segments WHERE id = ?", (key,)).fetchone()
    else:
        row = connection.execute(f"SELECT data FROM {blobs} WHERE segment = ?", (key,)).fetchone()
    return None if row is None else row[0]


def delete_segments(connection: sqlite3.Connection, table: str, blobs: str | None, where: str, parameters=()) -> None:
    """Remove the segments matching ``where`` and their BLOBs (their tombstones are the caller's)."""
    if blobs is not None:
        connection.execute(f"DELETE FROM {blobs} WHERE segment IN (SELECT id FROM {table}_segments WHERE {where})",
                           parameters)
    connection.execute(f"DELETE FROM {table}_segments WHERE {where}", parameters)
