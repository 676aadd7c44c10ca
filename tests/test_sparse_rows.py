"""Segment BLOBs in a table of their own (format 3) and in the segment rows (format 2, tables made
before): the same index through every generation step, and no BLOB left without its segment."""

import random
import sqlite3

import numpy as np
import pytest

from densekit.errors import CollectionError
from densekit.sparse_generations import discard_generations_after
from densekit.sparse_segments import SegmentedSparseIndex

WORDS = "river castle painter orchestra glacier senator violin harbour comet novel miner lantern the of".split()
QUERIES = ["river castle", "the painter of the orchestra", "comet comet lantern", "glacier senator violin", "zzz"]


def texts(count: int, seed: int) -> list[str]:
    draw = random.Random(seed)
    return [" ".join(draw.choices(WORDS, k=draw.randint(1, 12))) for _ in range(count)]


def format_2_tables(connection: sqlite3.Connection, table: str) -> None:
    """The tables densekit made before (format 2: BLOB in the segment row, a UNIQUE term)."""
    connection.execute(f"CREATE TABLE {table}_settings (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute(f"CREATE TABLE {table}_terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE)")
    connection.execute(f"CREATE TABLE {table}_segments (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL,"
                       " added_gen INTEGER NOT NULL DEFAULT 0, retired_gen INTEGER)")
    connection.execute(f"CREATE TABLE {table}_deleted (id INTEGER PRIMARY KEY AUTOINCREMENT, segment INTEGER NOT NULL,"
                       " item INTEGER NOT NULL, gen INTEGER NOT NULL DEFAULT 0)")
    connection.execute(f"CREATE INDEX {table}_segments_by_added ON {table}_segments(added_gen)")
    connection.execute(f"CREATE INDEX {table}_segments_by_retired ON {table}_segments(retired_gen)")
    connection.execute(f"CREATE INDEX {table}_deleted_by_gen ON {table}_deleted(gen)")
    connection.executemany(f"INSERT INTO {table}_settings VALUES (?, ?)", [("format", "2"), ("stemmer", ""), ("stopwords", "en")])


def hits(index) -> list:
    return [(rowids.tolist(), np.round(scores, 5).tolist()) for scores, rowids in (index.search(query, 10) for query in QUERIES)]


def generations(path, old_format: bool) -> dict:
    """A writer's life over three generations, with readers of each: adds, deletes, size-tier merges,
    a merge that retires committed segments, a purge and a discarded staging."""
    writer_connection = sqlite3.connect(path)
    writer_connection.execute("PRAGMA journal_mode=WAL")
    if old_format:
        with writer_connection:
            format_2_tables(writer_connection, "t")
    corpus = texts(120, seed=4)
    writer = SegmentedSparseIndex(writer_connection, "t", view=1)
    with writer_connection:
        for start in range(0, 80, 8):  # ten segments: a size-tier merge among them
            writer.add(np.arange(start, start + 8), corpus[start:start + 8])
    writer.advance(2)  # generation 1 committed
    with writer_connection:
        writer.add(np.arange(80, 100), corpus[80:100])
        writer.delete([3, 50, 81])
        writer.merge_newer(0)  # retires the segments generation 1 wrote
    seen = {"view 1": hits(SegmentedSparseIndex(sqlite3.connect(path), "t", view=1))}
    writer.advance(3)  # generation 2 committed
    with writer_connection:
        writer.purge(2)  # no reader of generation 1 is left
        writer.add(np.arange(100, 120), corpus[100:120])  # staged at 3, then discarded
    with writer_connection:
        writer.discard_after(2)
    reader = SegmentedSparseIndex(sqlite3.connect(path), "t", view=2)
    seen.update({"view 2": hits(reader), "writer": hits(writer), "statistics": reader.statistics()})
    rows = writer_connection.execute("SELECT count(*) FROM t_segments").fetchone()[0]
    if not old_format:
        assert writer_connection.execute("SELECT count(*) FROM t_blobs").fetchone()[0] == rows
        assert writer_connection.execute("SELECT count(*) FROM t_blobs WHERE segment NOT IN (SELECT id FROM t_segments)"
                                         ).fetchone()[0] == 0
    seen["format"] = writer_connection.execute("SELECT value FROM t_settings WHERE key = 'format'").fetchone()[0]
    seen["segment rows"] = rows
    return seen


def test_both_formats_give_the_same_index_through_every_generation(tmp_path):
    old, new = generations(tmp_path / "old.sqlite", True), generations(tmp_path / "new.sqlite", False)
    assert (old.pop("format"), new.pop("format")) == ("2", "3")
    assert old == new
    fresh = SegmentedSparseIndex(sqlite3.connect(":memory:"), "t")
    corpus = texts(120, seed=4)
    live = [rowid for rowid in range(100) if rowid not in (3, 50, 81)]
    fresh.add(live, [corpus[rowid] for rowid in live])
    assert new["view 2"] == new["writer"] == hits(fresh)


def test_an_unknown_format_is_refused(tmp_path):
    connection = sqlite3.connect(tmp_path / "items.sqlite")
    SegmentedSparseIndex(connection, "t")
    with connection:
        connection.execute("UPDATE t_settings SET value = '9' WHERE key = 'format'")
    with pytest.raises(CollectionError, match="format '9'; this densekit reads formats 2, 3"):
        SegmentedSparseIndex(connection, "t")


def test_discarding_without_reading_the_index_drops_blobs_too(tmp_path):
    connection = sqlite3.connect(tmp_path / "items.sqlite")
    index = SegmentedSparseIndex(connection, "t", view=1)
    with connection:
        index.add([1, 2], ["river castle", "comet harbour"])
    index.advance(2)
    with connection:
        index.add([3], ["lantern"])
    with connection:
        discard_generations_after(connection, "t", 1)
    assert connection.execute("SELECT count(*) FROM t_segments").fetchone() == (1,)
    assert connection.execute("SELECT count(*) FROM t_blobs").fetchone() == (1,)


def test_a_segment_without_its_blob_is_refused(tmp_path):
    connection = sqlite3.connect(tmp_path / "items.sqlite")
    index = SegmentedSparseIndex(connection, "t")
    with connection:
        index.add([1, 2], ["river castle", "comet harbour"])
        connection.execute("DELETE FROM t_blobs")
    with pytest.raises(CollectionError, match="segment 1 has no data"):
        SegmentedSparseIndex(connection, "t")
