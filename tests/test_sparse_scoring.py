"""BM25 scored in one pass across segments: the same scores, bit for bit, however the documents are
split into segments, merged or restricted; and the merge of an index run's segments."""

import random
import sqlite3

import numpy as np
import pytest

from densekit.sparse_scoring import ranges
from densekit.sparse_segments import SegmentedSparseIndex

WORDS = ("river castle painter orchestra glacier senator violin harbour comet novel miner lantern "
         "the of and a to in is was bridge storm abbey poet cargo duke falcon mill").split()
QUERIES = ["river castle", "the painter of the orchestra", "falcon", "comet comet lantern", "duke mill abbey storm",
           "nothing matches zzz", "river", "glacier senator violin harbour comet novel miner", "falcon falcon mill"]


def random_corpus(count: int, seed: int) -> list[str]:
    """Texts with Zipf-like word frequencies, so many documents tie and many share words."""
    draw = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(draw.choices(WORDS, weights, k=draw.randint(0, 25))) for _ in range(count)]


@pytest.fixture()
def connection():
    opened = sqlite3.connect(":memory:")
    yield opened
    opened.close()


def searches(index, allowed_sets):
    """Every query's full scan and allowed-restricted hits (scores and row ids)."""
    found = []
    for query in QUERIES:
        found.append(index.search(query, 15))
        for allowed in allowed_sets:
            found.append(index.search(query, 15, allowed=allowed))
    return found


def assert_identical(left, right):
    assert len(left) == len(right)
    for (scores, rowids), (other_scores, other_rowids) in zip(left, right):
        assert rowids.tolist() == other_rowids.tolist()
        assert scores.dtype == other_scores.dtype == np.float32 and np.array_equal(scores, other_scores)


def test_ranges_concatenates_aranges():
    starts, ends = np.array([3, 10, 10, 0]), np.array([6, 10, 12, 2])
    assert ranges(starts, ends).tolist() == [3, 4, 5, 10, 11, 0, 1]
    assert ranges(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []
    assert ranges(np.array([4]), np.array([4])).tolist() == []


def test_scores_are_identical_however_the_documents_are_segmented(tmp_path):
    texts = random_corpus(400, seed=21)
    deleted = [3, 50, 51, 199, 300, 399]
    allowed_sets = [np.array([5, 7, 50, 120, 121, 250, 398]), np.arange(0, 400, 3)]  # scored by row, then by scan

    whole = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    whole.add(range(400), texts)
    whole.delete(deleted)
    expected = searches(whole, allowed_sets)

    split = SegmentedSparseIndex(sqlite3.connect(tmp_path / "split.sqlite"), "sparse")
    for start in range(0, 400, 13):  # 31 segments, merged by tiers of 8 as they come
        split.add(range(start, min(start + 13, 400)), texts[start : start + 13])
    split.delete(deleted)
    assert split.statistics()["segments"] > 3
    assert_identical(searches(split, allowed_sets), expected)
    split.merge()
    assert split.statistics()["segments"] == 1
    assert_identical(searches(split, allowed_sets), expected)


def test_merge_newer_merges_only_the_runs_segments_within_the_cap(connection, monkeypatch):
    import densekit.sparse_merges as merges

    monkeypatch.setattr(merges, "AUTO_MERGE_DOCUMENTS", 0)  # no tier merges while writing: one segment per add
    texts = random_corpus(300, seed=5)
    older = SegmentedSparseIndex(connection, "sparse", view=1)
    for start in range(0, 60, 20):  # generation 1: three segments, an earlier run's
        older.add(range(start, start + 20), texts[start : start + 20])
    connection.commit()
    run = SegmentedSparseIndex(connection, "sparse", view=2)
    for start in range(60, 300, 20):  # generation 2: twelve more, of 20 documents each
        run.add(range(start, start + 20), texts[start : start + 20])
    run.delete([70, 71])
    before = searches(run, [np.array([1, 65, 70, 299])])
    older_keys = {segment.key for segment in run._segments if segment.added_gen == 1}
    assert len(older_keys) == 3 and run.statistics()["segments"] > 4

    rewritten = run.merge_newer(1, max_documents=100)
    keys = {segment.key for segment in run._segments}
    assert older_keys <= keys  # the earlier run's segments are left alone
    newer = sorted(int(segment.alive.sum()) for segment in run._segments if segment.key not in older_keys)
    assert sum(newer) == 238 and max(newer) <= 100 and len(newer) == 3  # 238 live documents, at most 100 a segment
    assert rewritten == 12
    assert_identical(searches(run, [np.array([1, 65, 70, 299])]), before)
    assert run.merge_newer(1, max_documents=100) == 0  # nothing left to merge
    connection.commit()
    reopened = SegmentedSparseIndex(connection, "sparse", view=2)
    assert_identical(searches(reopened, [np.array([1, 65, 70, 299])]), before)


def test_an_index_runs_segments_are_merged_once_into_full_ones_as_they_come(connection, monkeypatch):
    """With ``run_since`` (an index run's writer), the run's segments are merged when they hold more than
    a full segment's documents, the first of them into one full segment, and never again; the run's
    end merges the rest. Earlier segments are left alone, and the scores never change."""
    import densekit.sparse_merges as merges

    monkeypatch.setattr(merges, "RUN_MERGE_DOCUMENTS", 100)
    texts = random_corpus(500, seed=8)
    older = SegmentedSparseIndex(connection, "sparse", view=1)
    older.add(range(0, 30), texts[:30])
    connection.commit()
    whole = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    whole.add(range(500), texts)
    run = SegmentedSparseIndex(connection, "sparse", view=2)
    run.run_since = 1
    sizes = []
    for start in range(30, 500, 20):  # 23 writes of 20 documents (the last of 10)
        run.add(range(start, min(start + 20, 500)), texts[start : start + 20])
        sizes.append(sorted(int(segment.alive.sum()) for segment in run._segments if segment.added_gen == 2))
    assert sizes[3] == [20, 20, 20, 20]  # 80: not yet a full segment's worth
    assert sizes[4] == [20, 20, 20, 20, 20]  # 100: not more than one
    assert sizes[5] == [20, 100]  # 120: the first five merged into one
    assert sizes[-1] == [10, 20, 20, 20, 100, 100, 100, 100]
    full = {segment.key for segment in run._segments if segment.alive.sum() == 100}
    older_keys = {segment.key for segment in run._segments if segment.added_gen == 1}
    assert len(older_keys) == 1
    expected = searches(whole, [np.array([1, 65, 70, 299, 480])])
    assert_identical(searches(run, [np.array([1, 65, 70, 299, 480])]), expected)

    assert run.merge_newer(1) == 4  # the run's end: only the four segments not yet full
    keys = {segment.key for segment in run._segments}
    assert full | older_keys <= keys
    assert sorted(int(segment.alive.sum()) for segment in run._segments) == [30, 70, 100, 100, 100, 100]
    assert_identical(searches(run, [np.array([1, 65, 70, 299, 480])]), expected)

    run.run_since = None  # any other writer: size tiers of 8 again
    for start in range(500, 580, 10):
        run.add(range(start, start + 10), random_corpus(10, seed=start))
    assert run.statistics()["segments"] == 7  # a tier of 8 merged (the 30 and seven of the 10s)


def index_run(connection, monkeypatch, documents: int, segments: int) -> SegmentedSparseIndex:
    """An index as an index run's writer has it (``run_since``), with small merge sizes."""
    import densekit.sparse_merges as merges

    monkeypatch.setattr(merges, "RUN_MERGE_DOCUMENTS", documents)
    monkeypatch.setattr(merges, "RUN_MERGE_SEGMENTS", segments)
    run = SegmentedSparseIndex(connection, "sparse", view=1)
    run.run_since = 0
    return run


def test_an_index_runs_many_small_writes_are_merged_by_size(connection, monkeypatch):
    """Writes of few documents are merged RUN_MERGE_SEGMENTS of one size at a time, before they hold
    a full segment's documents, and a merge joins others only of its own size."""
    run = index_run(connection, monkeypatch, documents=100, segments=4)
    texts = random_corpus(60, seed=12)
    sizes = []
    for start in range(0, 60, 5):  # 12 writes of 5 documents
        run.add(range(start, start + 5), texts[start : start + 5])
        sizes.append(sorted(int(segment.alive.sum()) for segment in run._segments))
    assert sizes[2] == [5, 5, 5]
    assert sizes[3] == [20]  # four of one size: merged, though far from full
    assert sizes[7] == [20, 20]  # not merged with the next small ones
    assert sizes[-1] == [20, 20, 20]
    whole = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    whole.add(range(60), texts)
    assert_identical(searches(run, [np.array([1, 30, 59])]), searches(whole, [np.array([1, 30, 59])]))


def test_one_document_writes_are_merged_a_few_times_each_not_once_per_write(connection, monkeypatch):
    run = index_run(connection, monkeypatch, documents=1000, segments=4)
    texts = random_corpus(600, seed=13)
    rewritten = []
    original = SegmentedSparseIndex._rewrite
    monkeypatch.setattr(SegmentedSparseIndex, "_rewrite",
                        lambda self, group: (rewritten.append(sum(int(s.alive.sum()) for s in group)), original(self, group))[1])
    for number in range(600):
        run.add([number], [texts[number]])
        assert len(run._segments) < 4 * 5  # fewer than 4 of each size (1, 4, 16, 64, 256)
    assert sum(rewritten) <= 5 * 600  # each document merged once per size it passed (a merge with the
    # next writes each time rewrote ~600 * 600 / 8 = 45,000)


@pytest.mark.parametrize("kept_bytes", [0, 10**9, "two"])
def test_an_index_runs_segments_keep_their_rows_within_the_budget_and_merge_the_same(connection, monkeypatch, kept_bytes):
    """An index run's writer keeps its small segments' rows by document in memory, up to
    RUN_KEPT_ROW_BYTES, for the merges to come; the postings by term go, as before. Kept or read back
    from the BLOBs, the merged segment is the same, byte for byte, and so are the scores."""
    import densekit.sparse_merges as merges

    texts = random_corpus(200, seed=21)

    def index_run(into):
        run = SegmentedSparseIndex(into, "sparse", view=1)
        run.run_since = 0
        for start in range(0, 200, 40):
            run.add(range(start, start + 40), texts[start : start + 40])
        return run

    if kept_bytes == "two":  # the first two segments' rows fit, the third's do not
        monkeypatch.setattr(merges, "RUN_KEPT_ROW_BYTES", 10**9)
        kept_bytes = sum(segment.kept_row_bytes for segment in index_run(sqlite3.connect(":memory:"))._segments[:2])
        expected_kept = [True, True, False, False, False]
    else:
        expected_kept = [kept_bytes > 0] * 5
    monkeypatch.setattr(merges, "RUN_KEPT_ROW_BYTES", kept_bytes)
    run = index_run(connection)
    kept = [segment.kept_row_bytes > 0 for segment in run._segments]
    assert kept == expected_kept
    assert all(segment.is_released for segment in run._segments)  # by term: only in the BLOBs
    whole = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    whole.add(range(200), texts)
    expected = searches(whole, [np.array([1, 65, 70, 199])])
    assert_identical(searches(run, [np.array([1, 65, 70, 199])]), expected)

    assert run.merge_newer(0) == 5
    (merged,) = run._segments
    assert merged.kept_row_bytes == 0 and merged.is_released
    assert merged.to_blob() == whole._segments[0].to_blob()
    assert_identical(searches(run, [np.array([1, 65, 70, 199])]), expected)


def test_rows_kept_for_a_run_go_at_its_end_and_a_full_segment_keeps_none(connection, monkeypatch):
    import densekit.sparse_merges as merges

    monkeypatch.setattr(merges, "RUN_MERGE_DOCUMENTS", 100)
    texts = random_corpus(130, seed=22)
    run = SegmentedSparseIndex(connection, "sparse", view=1)
    run.run_since = 0
    run.add(range(0, 95), texts[:95])  # a full segment (at least half RUN_MERGE_DOCUMENTS): never merged in the run
    run.add(range(95, 105), texts[95:105])
    assert [segment.kept_row_bytes > 0 for segment in run._segments] == [False, True]
    assert run.merge_newer(0) == 0  # each left as it is (95 + 10 > 100), and its rows go
    assert all(segment.kept_row_bytes == 0 for segment in run._segments)
    run.add(range(105, 115), texts[105:115])
    assert run._segments[-1].kept_row_bytes > 0
    run.run_since = None  # the run is over
    assert all(segment.kept_row_bytes == 0 for segment in run._segments)
    whole = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    whole.add(range(115), texts[:115])
    assert_identical(searches(run, [np.array([1, 65, 110])]), searches(whole, [np.array([1, 65, 110])]))


def test_a_reader_that_searched_follows_a_merge_by_another_connection(tmp_path):
    path = tmp_path / "index.sqlite"
    texts = random_corpus(105, seed=11)
    writer = SegmentedSparseIndex(sqlite3.connect(path), "sparse", view=1)
    for start in range(0, 105, 15):  # 7 segments: one short of a tier merge
        writer.add(range(start, start + 15), texts[start : start + 15])
    writer.delete([4, 40])
    writer.connection.commit()
    reader = SegmentedSparseIndex(sqlite3.connect(path), "sparse", view=1)
    before = searches(reader, [np.array([1, 4, 30, 99])])  # the reader now holds its layout of 7 segments
    writer.advance(2)
    assert writer.merge_newer(0) == 7
    writer.connection.commit()
    assert_identical(searches(reader, [np.array([1, 4, 30, 99])]), before)  # generation 1 still shows 7
    reader.advance(2)
    assert reader.statistics()["segments"] == 1
    assert_identical(searches(reader, [np.array([1, 4, 30, 99])]), before)


def test_positions_read_as_uint16_are_placed_after_a_segment_of_more_than_65536_documents():
    """A segment's BLOB keeps its postings' document positions as uint16 (up to 2**16 documents); a
    search adds the segment's start to them, which past 65,535 must not wrap or overflow."""
    import scipy.sparse

    from densekit.sparse_scoring import Layout, scan
    from densekit.sparse_segment import Segment

    big = 70_000
    first = Segment(0, np.arange(big, dtype=np.int64), np.ones(big, dtype=np.float32),
                    scipy.sparse.csr_matrix((np.ones(big), np.zeros(big, dtype=np.int32), np.arange(big + 1)), shape=(big, 2)))
    small = Segment(0, np.array([big, big + 1], dtype=np.int64), np.ones(2, dtype=np.float32),
                    scipy.sparse.csr_matrix(np.array([[0.0, 1.0], [0.0, 2.0]])))
    small = Segment.from_blob(1, small.to_blob(), 2)
    assert small.term_documents.dtype == np.uint16
    scores = scan(Layout([first, small]), np.array([1], dtype=np.int64), np.array([1.0], dtype=np.float32), 1.0)
    assert np.flatnonzero(scores).tolist() == [big, big + 1] and scores[big + 1] > scores[big]
