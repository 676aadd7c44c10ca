"""ContentStore.insert: one statement for a batch, and the row ids it returns are the rows it wrote."""

from densekit.collection.embedded.store import ContentStore
from densekit.collection.items import Item


def test_inserted_row_ids_name_the_rows_written_also_after_the_largest_rows_went(tmp_path):
    store = ContentStore(tmp_path / "content.sqlite")
    first = store.insert([Item(id=f"a{n}", text=f"text {n}", metadata={"n": n}) for n in range(5)], gen=1)
    assert first == sorted(first) and len(set(first)) == 5
    # The largest rows go: AUTOINCREMENT still numbers the next ones above them (never reused).
    store.mark_deleted(first[3:], gen=1)
    second = store.insert([Item(id=f"b{n}", text=f"other {n}", metadata={}, parent="doc", start=n, end=n + 1)
                           for n in range(4)], gen=2)
    assert min(second) > max(first)
    rows = store.by_rowids(first[:3] + second)
    assert [rows[rowid].id for rowid in first[:3] + second] == ["a0", "a1", "a2", "b0", "b1", "b2", "b3"]
    assert [rows[rowid].metadata for rowid in first[:3]] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert (rows[second[2]].parent, rows[second[2]].start, rows[second[2]].end) == ("doc", 2, 3)
    assert store.insert([], gen=3) == []
    store.close()
