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



def test_a_read_only_store_maps_the_file_unless_it_reads_it_through_once(tmp_path, monkeypatch):
    # A checkpoint job reads the store through once: mapped, every page it read would stay resident
    # in the writer's process (an --index flat run of 200 MB peaked at 1,007 MiB, 269 without the map).
    from densekit.collection.embedded.checkpoints import CheckpointJob

    ContentStore(tmp_path / "content.sqlite").close()
    searching = ContentStore(tmp_path / "content.sqlite", readonly=True)
    scanning = ContentStore(tmp_path / "content.sqlite", readonly=True, mapped=False)
    assert searching.connection.execute("PRAGMA mmap_size").fetchone()[0] > 0
    assert scanning.connection.execute("PRAGMA mmap_size").fetchone()[0] == 0
    searching.close()
    scanning.close()
    opened = []
    real = ContentStore.__init__

    def recording(self, path, readonly=False, mapped=True):
        opened.append((readonly, mapped))
        real(self, path, readonly, mapped)

    monkeypatch.setattr(ContentStore, "__init__", recording)
    job = CheckpointJob(tmp_path, "text", {"index": {"vectors": "text@1", "file": None}, "encoder": {"dimension": 4}}, 1, 3)
    job._run()  # fails on this empty folder (reported to the writer); the store it opened is what counts
    assert opened == [(True, False)] and job.error is not None


def test_deleting_frees_pages_without_rewriting_them_and_compact_removes_what_was_deleted(tmp_path):
    """secure_delete=FAST: a delete (a purge, an index run's merged segments) puts pages on the free
    list without writing zeros over each (Debian's SQLite overwrites them by default: the end of
    an index run paid 44 ms to zero its replaced segments); `compact` (VACUUM) is what takes deleted
    text out of the file."""
    from densekit.collection import Collection

    secret = "the launch code of the deleted note is swordfish seven seven"
    folder = tmp_path / "c"
    with Collection.create(folder, model="hashing:64") as collection:
        assert collection.store.connection.execute("PRAGMA secure_delete").fetchone()[0] == 2  # FAST
        collection.add([secret, "a note that stays"], ids=["secret", "kept"])
        collection.commit()
        collection.delete(["secret"])
        collection.commit()
        collection.commit(force=True)  # the purge of the deleted row
        collection.compact()
    content = (folder / "content.sqlite").read_bytes()
    assert secret.encode() not in content and b"a note that stays" in content
    assert not (folder / "content.sqlite-wal").exists() or (folder / "content.sqlite-wal").stat().st_size == 0


def test_a_reader_that_could_not_create_the_wal_index_follows_later_commits(tmp_path, monkeypatch):
    """A reader without write access to the folder, opened while no writer was active, cannot create
    the -shm file a WAL read needs: it reads the file immutable. Its next refresh after a commit opens
    the store again (it told every later read to run `check --repair` and never caught up)."""
    import sqlite3

    from densekit.collection import Collection

    folder = tmp_path / "c"
    with Collection.create(folder, model="hashing:64") as collection:
        collection.add([f"text number {n}" for n in range(20)], ids=[f"d{n}" for n in range(20)])
    real_connect = sqlite3.connect
    denied = [True]

    class NoWalIndex:  # what SQLite answers a reader that may not create content.sqlite-shm
        def execute(self, *arguments):
            raise sqlite3.OperationalError("unable to open database file")

        def close(self):
            pass

    def connect(target, *arguments, **options):
        if denied[0] and "mode=ro" in str(target):
            return NoWalIndex()
        return real_connect(target, *arguments, **options)

    monkeypatch.setattr(sqlite3, "connect", connect)
    reader = Collection.open(folder, readonly=True)
    try:
        denied[0] = False  # a writer made -wal and -shm, readable by all
        assert reader.count() == 20
        for round_number in range(2):
            with Collection.open(folder) as writer:
                writer.add([f"new note {word}{round_number}" for word in ("apple", "birch", "cedar", "delta", "ember")],
                           ids=[f"n{round_number}x{n}" for n in range(5)])
                writer.delete([f"d{round_number}"])
            assert reader.count() == 20 + 4 * (round_number + 1)
            assert reader.get(f"n{round_number}x0") is not None and reader.get(f"d{round_number}") is None
            assert [hit.id for hit in reader.search(f"delta{round_number}", k=1, mode="sparse")] == [f"n{round_number}x3"]
        assert not reader.store._frozen
    finally:
        reader.close()



def test_only_deleted_rows_are_in_the_deleted_index_and_an_older_full_index_answers_the_same(tmp_path):
    """items_by_deleted holds the deleted rows only (partial: a live row's deleted_gen is NULL, and every
    query on it compares it, so the planner still uses it); a collection made before, with an entry
    for every row, is read and written the same way."""
    answers = []
    for full_index in (False, True):
        store = ContentStore(tmp_path / f"content-{full_index}.sqlite")
        if full_index:  # as collections made before 3 December 2026 have it
            store.connection.executescript("DROP INDEX items_by_deleted; CREATE INDEX items_by_deleted ON items(deleted_gen);")
        rowids = store.insert([Item(id=f"a{n}", text=f"text {n}", metadata={}) for n in range(6)], gen=1)
        store.mark_deleted(rowids[:2], gen=2)
        store.mark_deleted(rowids[2:3], gen=3)
        entries = store.connection.execute(
            "SELECT count(*) FROM items INDEXED BY items_by_deleted WHERE deleted_gen IS NOT NULL").fetchone()[0]
        indexed = store.connection.execute("SELECT count(*) FROM pragma_index_info('items_by_deleted')").fetchone()[0]
        plan = " ".join(str(row) for row in store.connection.execute(
            "EXPLAIN QUERY PLAN SELECT rowid FROM items WHERE deleted_gen > ? AND deleted_gen <= ? AND added_gen <= ?", (1, 2, 1)))
        assert "items_by_deleted" in plan and indexed == 1, plan
        partial = store.connection.execute("SELECT partial FROM pragma_index_list('items') WHERE name = 'items_by_deleted'").fetchone()[0]
        assert partial == (not full_index)
        seen = [entries, store.removed_between(1, 2).tolist(), store.removed_between(1, 3).tolist()]
        store.discard_after(2)  # the deletion staged at 3 undone
        seen.append(store.removed_between(1, 3).tolist())
        store.purge_before(2)
        seen.append(sorted(store.by_rowids(rowids)))
        answers.append(seen)
        store.close()
    assert answers[0] == answers[1] == [3, rowids[:2], rowids[:3], rowids[:2], rowids[2:]]
