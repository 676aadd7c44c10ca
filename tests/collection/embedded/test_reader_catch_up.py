"""A reader catches up with every commit it has not shown yet, also when its last attempt failed
(files removed under it, an interruption) or a commit landed while it was being opened: a failure
is tried again at the next read, never left standing until the writer's next commit."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.collection.embedded import collection as embedded, persistence
from densekit.encoders.hashing import HashingEncoder
from densekit.sparse_segments import SegmentedSparseIndex


def _answers(collection):
    return (collection.count(), collection.list_ids().ids,
            [(hit.id, round(hit.score, 6)) for hit in collection.search("apple", k=5, mode="sparse")],
            [hit.id for hit in collection.search("apple", k=5, mode="dense")], collection.generation)


def _fresh(folder):
    with Collection.open(folder, readonly=True) as fresh:
        return _answers(fresh)


@pytest.fixture
def writer(tmp_path):
    with Collection.create(tmp_path / "c", encoder=HashingEncoder()) as writer:
        writer.add(["apple river", "stone cloud"], ids=["a", "b"])
        writer.commit()
        yield writer


def test_a_commit_landing_while_a_reader_opens_is_caught_up_with(writer, monkeypatch):
    read = embedded.read_manifest

    def read_then_commit(folder):
        manifest = read(folder)
        monkeypatch.setattr(embedded, "read_manifest", read)
        writer.add(["apple tiger"], ids=["c"])
        writer.commit()  # after the reader read its manifest, before it took the file's stamp
        return manifest

    monkeypatch.setattr(embedded, "read_manifest", read_then_commit)
    with Collection.open(writer.folder, readonly=True) as reader:
        assert _answers(reader) == _fresh(writer.folder)
        assert reader.count() == 3


def test_a_catch_up_that_failed_is_tried_again_at_the_next_read(writer, monkeypatch):
    with Collection.open(writer.folder, readonly=True) as reader:
        _answers(reader)
        writer.add(["apple tiger"], ids=["c"])
        writer.commit()

        def removed(*args, **kwargs):
            raise FileNotFoundError("spaces/text.9.index")  # a writer committing faster than we load

        with monkeypatch.context() as patch:
            patch.setattr(persistence, "load_spaces", removed)
            with pytest.raises(FileNotFoundError):
                reader.count()
        assert _answers(reader) == _fresh(writer.folder)
        assert reader.count() == 3


def test_a_sparse_catch_up_interrupted_half_way_is_read_again(writer, monkeypatch):
    with Collection.open(writer.folder, readonly=True) as reader:
        _answers(reader)
        writer.add(["apple tiger"], ids=["c"])
        writer.delete(["a"])
        writer.commit()
        advance = SegmentedSparseIndex.advance

        def interrupted(index, view):
            if index.table == "sparse_chunks":
                raise KeyboardInterrupt  # the documents' table caught up, the chunks' not
            advance(index, view)

        with monkeypatch.context() as patch:
            patch.setattr(SegmentedSparseIndex, "advance", interrupted)
            with pytest.raises(KeyboardInterrupt):
                reader.search("apple", mode="sparse")
        assert _answers(reader) == _fresh(writer.folder)


def test_a_reader_opening_the_generation_before_a_reencoding_loads_while_writers_open(writer, monkeypatch):
    writer.add(["apple tiger"], ids=["c"])  # rows after the space's checkpoint: replayed from their vectors
    writer.commit()
    folder = writer.folder
    writer.close()
    read = embedded.read_manifest

    def read_then_reencode(path):
        manifest = read(path)
        monkeypatch.setattr(embedded, "read_manifest", read)
        with Collection.open(folder) as other:
            other.reencode(encoder=HashingEncoder())
            other.commit()  # keeps the old vectors: readers may be opening the generation before
        Collection.open(folder).close()  # a writer that only opens must keep them as well
        with Collection.open(folder) as other:
            with pytest.raises(KeyError):
                with other.transaction():  # and one whose transaction is rolled back
                    other.add(["stone"], ids=["d"])
                    raise KeyError("abort")
        return manifest

    monkeypatch.setattr(embedded, "read_manifest", read_then_reencode)
    with Collection.open(folder, readonly=True) as reader:
        assert _answers(reader) == _fresh(folder)


@pytest.mark.parametrize("reader_opens", ["before", "during"])
def test_a_reader_loading_while_a_writer_commits_twice_and_purges_retries(tmp_path, monkeypatch, reader_opens):
    # Checkpoints inline after every row: the deletion below is replayed from the content store.
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_BACKGROUND", "0")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "1")
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_FRACTION", "0")
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as writer:
        reader = Collection.open(folder, readonly=True) if reader_opens == "before" else None
        writer.add(["apple river", "stone cloud"], ids=["a", "b"])
        writer.commit()  # a checkpoint holding a and b
        writer.delete(["a"])
        writer.commit()  # replayed by whoever loads that checkpoint
        replay = persistence.replay

        def compact_first(*args):
            monkeypatch.setattr(persistence, "replay", replay)
            writer.compact()  # two commits: the deletion of a is purged before it is replayed
            return replay(*args)

        monkeypatch.setattr(persistence, "replay", compact_first)
        try:
            if reader is None:
                reader = Collection.open(folder, readonly=True)
            assert _answers(reader) == _fresh(folder)
            assert reader.count() == 1
        finally:
            if reader is not None:
                reader.close()


def test_a_vector_tail_replay_interrupted_between_batches_is_read_again(tmp_path, monkeypatch):
    """Half the tail's rows were in the kept index when the replay was interrupted, and the next
    catch-up replayed them again ("id ... is already in the index", at every read from then on)."""
    from densekit.collection.embedded.store import ContentStore

    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add([f"text number {n}" for n in range(20)], ids=[f"d{n}" for n in range(20)])
    reader = Collection.open(folder, readonly=True)
    try:
        assert reader.count() == 20
        with Collection.open(folder) as writer:
            writer.add([f"more rows {n}" for n in range(10)], ids=[f"m{n}" for n in range(10)])  # the tail
        real = ContentStore.vectors_added_between
        interrupted = []

        def in_batches_of_four(self, key, after, through, dimension, batch=5000):
            for number, part in enumerate(real(self, key, after, through, dimension, batch=4)):
                if number == 1 and not interrupted:
                    interrupted.append(number)
                    raise KeyboardInterrupt  # between two batches
                yield part

        monkeypatch.setattr(ContentStore, "vectors_added_between", in_batches_of_four)
        with pytest.raises(KeyboardInterrupt):
            reader.count()
        assert reader.count() == 30
        assert reader.search("more rows 7", k=1, mode="dense")[0].id == "m7"
    finally:
        reader.close()


def test_check_lists_and_repair_rebuilds_a_checkpoint_that_holds_rows_of_its_tail(tmp_path, monkeypatch):
    """A manifest naming an older generation than its checkpoint covers: opening replays rows the file
    holds. ``check`` lists it as a problem (it raised the index's own error before), and ``--repair``
    rebuilds it (it found nothing to rebuild: the file itself reads)."""
    import json

    for setting, value in (("BACKGROUND", "0"), ("MIN_ROWS", "0"), ("FRACTION", "0")):
        monkeypatch.setenv(f"DENSEKIT_CHECKPOINT_{setting}", value)  # the commit writes a checkpoint
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add([f"text number {n}" for n in range(20)], ids=[f"d{n}" for n in range(20)])
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["spaces"]["text"]["index"]["generation"] = 0
    (folder / "manifest.json").write_text(json.dumps(manifest))
    problems = Collection.check_at(folder)
    assert len(problems) == 1 and "holds rows the content store adds after it" in problems[0]
    assert Collection.repair_at(folder) == ["space 'text': rebuilt its index from 20 items (from the stored vectors)"]
    assert Collection.check_at(folder) == []
