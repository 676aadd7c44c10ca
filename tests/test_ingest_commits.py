"""``ingest(commit_every=...)``: commits between documents only, after N documents or T seconds."""

from __future__ import annotations

import pytest

import densekit.ingest as ingest_module
from densekit.collection import Collection
from densekit.errors import InvalidInputError
from densekit.ingest import CommitEvery, ingest


def write_corpus(folder, lengths):
    folder.mkdir()
    for number, words in enumerate(lengths):
        (folder / f"doc{number:02d}.txt").write_text(" ".join(f"word{number}x{position}" for position in range(words)))
    return folder


def watch_commits(collection):
    """Wrap ``collection.commit`` to record, after each commit, each document's chunk count as a
    separate read-only handle sees it."""
    seen: list[dict[str, int]] = []
    commit = collection.commit

    def recording_commit(force: bool = False):
        commit(force)
        with Collection.open(collection.location, readonly=True) as reader:
            counts: dict[str, int] = {}
            for item in reader.get([id_ for id_ in reader.list_ids(limit=10_000).ids]):
                counts[item.parent] = counts.get(item.parent, 0) + 1
            seen.append(counts)

    collection.commit = recording_commit
    return seen


def chunks_per_document(folder):
    with Collection.open(folder, readonly=True) as reader:
        counts: dict[str, int] = {}
        for item in reader.get(reader.list_ids(limit=10_000).ids):
            counts[item.parent] = counts.get(item.parent, 0) + 1
    return counts


def test_commits_every_n_documents_and_never_splits_one(tmp_path, hashing_encoder, monkeypatch):
    # A tiny group size so the long document is staged in several writes before it is whole.
    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 2)
    monkeypatch.setattr(ingest_module, "GIANT_CHUNKS", 4)
    corpus = write_corpus(tmp_path / "docs", [5, 5, 120, 5, 5, 5, 5, 5, 5, 5])
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        seen = watch_commits(collection)
        report = ingest(collection, [corpus], max_tokens=12, overlap=2, commit_every=CommitEvery(documents=3, seconds=1e9))
        seen = list(seen)  # not the handle's own commit on leaving the block
    final = chunks_per_document(tmp_path / "c")
    assert final[next(parent for parent in final if parent.endswith("doc02.txt"))] > 8
    # After 3, 6, 9 documents and the last one; the long third document is written in parts inside
    # one transaction, which in the embedded store begins by committing the two whole ones before it.
    assert report.commits == 4
    # Then the run's end merges the BM25 segments it wrote (Collection.merge_segments): commits that
    # change no item.
    assert [len(counts) for counts in seen[:5]] == [2, 3, 6, 9, 10] and all(len(counts) == 10 for counts in seen[5:])
    for counts in seen:
        assert all(count == final[parent] for parent, count in counts.items())  # whole documents only


def test_seconds_zero_commits_after_every_written_document(tmp_path, hashing_encoder):
    corpus = write_corpus(tmp_path / "docs", [4] * 5)
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        report = ingest(collection, [corpus], commit_every=CommitEvery(documents=100, seconds=0))
    assert report.commits == 5 and report.as_dict()["commits"] == 5
    (corpus / "doc01.txt").write_text("changed words here")
    with Collection.open(tmp_path / "c") as collection:
        again = ingest(collection, [corpus], commit_every=CommitEvery(documents=100, seconds=0))
    assert (again.unchanged, again.replaced, again.commits) == (4, 1, 1)  # unchanged documents commit nothing


def test_without_commit_every_the_caller_commits(tmp_path, hashing_encoder):
    corpus = write_corpus(tmp_path / "docs", [4] * 3)
    collection = Collection.create(tmp_path / "c", encoder=hashing_encoder)
    report = ingest(collection, [corpus])
    assert report.commits == 0
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert reader.count() == 0
    collection.commit()
    collection.close()
    assert chunks_per_document(tmp_path / "c") and len(chunks_per_document(tmp_path / "c")) == 3


@pytest.mark.parametrize("documents, seconds, message", [
    (0, 1.0, "commit every 0 documents"),
    (2.5, 1.0, "commit every 2.5 documents"),
    (True, 1.0, "commit every True documents"),
    (10, -0.5, "commit every -0.5 seconds"),
    (10, float("inf"), "commit every inf seconds"),
    (10, "5", "commit every '5' seconds"),
])
def test_bad_intervals_name_the_value(documents, seconds, message):
    with pytest.raises(InvalidInputError, match=message):
        CommitEvery(documents=documents, seconds=seconds)


class FailingEncoder:
    """The hashing encoder, failing on any batch that holds ``marker`` while ``armed``."""

    def __init__(self, encoder, marker: str):
        self.encoder, self.marker, self.armed = encoder, marker, True
        original = encoder.encode_batch

        def encode_batch(texts):
            if self.armed and any(self.marker in text for text in texts):
                raise RuntimeError("the model failed halfway through a long document")
            return original(texts)

        encoder.encode_batch = encode_batch


@pytest.fixture(params=["embedded", "postgres"])
def make_collection(request, tmp_path):
    """``make_collection(encoder, create=True)``: an embedded or PostgreSQL collection at one place."""
    if request.param == "embedded":
        location, name = tmp_path / "c", None
    else:
        location, name = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_name")

    def make(encoder, create=False):
        if create:
            return Collection.create(location, encoder=encoder, name=name)
        return Collection.open(location, encoder=encoder, name=name)

    return make


def test_a_long_document_that_fails_halfway_leaves_no_part_behind(tmp_path, make_collection, monkeypatch):
    from densekit.encoders.hashing import HashingEncoder

    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 2)
    monkeypatch.setattr(ingest_module, "GIANT_CHUNKS", 4)
    corpus = write_corpus(tmp_path / "docs", [5, 5, 120, 5])
    encoder = HashingEncoder(64)
    failing = FailingEncoder(encoder, "word2x100")  # deep inside the long third document
    collection = make_collection(encoder, create=True)
    with pytest.raises(RuntimeError, match="halfway"):
        ingest(collection, [corpus], max_tokens=12, overlap=2, commit_every=CommitEvery(documents=100, seconds=1e9))
    collection.close()

    with make_collection(encoder) as reader:  # a new handle: what was committed
        parents = {item.parent for item in reader.get(reader.list_ids(limit=1000).ids)}
        assert parents == {"docs/doc00.txt", "docs/doc01.txt"}  # whole documents before it; none of it
        failing.armed = False
        report = ingest(reader, [corpus], max_tokens=12, overlap=2, commit_every=CommitEvery(documents=100, seconds=1e9))
    assert (report.unchanged, report.added) == (2, 2)  # the long one is encoded again, whole
    with make_collection(encoder) as reader:
        counts: dict[str, int] = {}
        for item in reader.get(reader.list_ids(limit=1000).ids):
            counts[item.parent] = counts.get(item.parent, 0) + 1
    assert len(counts) == 4 and counts["docs/doc02.txt"] > 8


def run_stopped_at_the_seventh_document(collection, corpus, monkeypatch):
    """An index run committing every 2 documents, stopped by Ctrl-C as it reaches the 7th document."""
    reached = []
    document = ingest_module._ingest_document

    def interrupted_at_the_seventh(collection, source, *arguments, **options):
        reached.append(source.id)
        if len(reached) == 7:
            raise KeyboardInterrupt
        return document(collection, source, *arguments, **options)

    monkeypatch.setattr(ingest_module, "_ingest_document", interrupted_at_the_seventh)
    with pytest.raises(KeyboardInterrupt):
        ingest(collection, [corpus], max_tokens=12, overlap=2, commit_every=CommitEvery(documents=2, seconds=1e9))


def test_a_commit_due_is_made_before_the_next_group_and_kept_when_the_run_fails(tmp_path, make_collection, monkeypatch):
    """A commit falls due after a whole document and is made once the next group is read, before that
    group is staged: it holds exactly the documents due. When reading the next group fails (here
    Ctrl-C), the documents due are committed all the same, as they would have been a moment later."""
    from densekit.encoders.hashing import HashingEncoder

    monkeypatch.setattr(ingest_module, "GROUP_CHUNKS", 3)
    corpus = write_corpus(tmp_path / "docs", [5] * 8)
    encoder = HashingEncoder(64)
    collection = make_collection(encoder, create=True)
    seen = watch_commits(collection)
    run_stopped_at_the_seventh_document(collection, corpus, monkeypatch)
    collection.close()
    # Due after documents 2, 4 and 6: made before documents 3-4 and 5-6 were staged (3 chunks a
    # group: one flush per two documents), and the last one when document 7 failed.
    assert [len(counts) for counts in seen] == [2, 4, 6]
    with make_collection(encoder) as reader:
        assert len({item.parent for item in reader.get(reader.list_ids(limit=1000).ids)}) == 6


def test_a_commit_due_is_made_while_the_run_walks_past_unchanged_documents(tmp_path, monkeypatch):
    """Unchanged documents write nothing, so the next group may never fill: the commit that fell due
    is made once it has waited the policy's seconds (here 0) or COMMIT_DELAY_SECONDS, whichever is less."""
    from densekit.encoders.hashing import HashingEncoder

    corpus = write_corpus(tmp_path / "docs", [5] * 6)
    encoder = HashingEncoder(64)
    with Collection.create(tmp_path / "c", encoder=encoder) as collection:
        ingest(collection, [corpus], commit_every=CommitEvery(documents=1, seconds=0))
    (corpus / "doc00.txt").write_text("changed words here")
    seen = {}
    document = ingest_module._ingest_document

    def looking_at_the_last(collection, source, *arguments, **options):
        if source.id.endswith("doc05.txt"):
            with Collection.open(tmp_path / "c", readonly=True) as reader:
                seen["doc00"] = [item.text for item in reader.get(reader.list_ids(limit=100).ids)
                                 if item.parent.endswith("doc00.txt")]
        return document(collection, source, *arguments, **options)

    monkeypatch.setattr(ingest_module, "_ingest_document", looking_at_the_last)
    with Collection.open(tmp_path / "c") as collection:
        report = ingest(collection, [corpus], commit_every=CommitEvery(documents=1, seconds=0))
    assert (report.replaced, report.unchanged, report.commits) == (1, 5, 1)
    assert seen["doc00"] == ["changed words here"]  # committed before the run reached the last document


def test_a_run_stopped_with_a_commit_due_leaves_the_index_conversion_to_a_run_end(tmp_path, monkeypatch):
    """The documents due are committed when the run stops (Ctrl-C) as one of the run's commits: the
    conversion to HNSW that an index run leaves to its end is not done then (it built a whole graph
    right after the user's Ctrl-C)."""
    from densekit.encoders.hashing import HashingEncoder

    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "10")
    corpus = write_corpus(tmp_path / "docs", [40] * 8)
    collection = Collection.create(tmp_path / "c", encoder=HashingEncoder(64))
    run_stopped_at_the_seventh_document(collection, corpus, monkeypatch)
    collection.close()
    with Collection.open(tmp_path / "c", readonly=True) as reader:
        assert len({item.parent for item in reader.get(reader.list_ids(limit=1000).ids)}) == 6
        assert reader.space("text").index.kind == "flat" and reader.count() > 10
