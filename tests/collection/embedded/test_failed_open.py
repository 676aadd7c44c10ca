"""A handle that fails to open holds nothing: its content store connection is closed, whether the
failure comes while loading the index (a reader retries up to 10 times while a writer commits) or
while a writer reads its sparse tables."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.collection.embedded import collection as embedded, sparse_tables, store
from densekit.encoders.hashing import HashingEncoder


@pytest.fixture
def opened(monkeypatch):
    """Every ContentStore made, and which of them were closed."""
    made, closed = [], []
    original_init, original_close = store.ContentStore.__init__, store.ContentStore.close

    def init(self, *arguments, **options):
        original_init(self, *arguments, **options)
        made.append(self)

    def close(self):
        closed.append(self)
        original_close(self)

    monkeypatch.setattr(store.ContentStore, "__init__", init)
    monkeypatch.setattr(store.ContentStore, "close", close)
    return made, closed


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river", "granite quarry"], ids=["a", "b"])
    return folder


def test_a_reader_whose_index_files_keep_vanishing_closes_every_connection_it_opened(folder, opened, monkeypatch):
    def vanished(*arguments, **options):
        raise FileNotFoundError("index file removed by a writer's commit (injected)")

    monkeypatch.setattr(embedded.persistence, "load_spaces", vanished)
    with pytest.raises(FileNotFoundError):
        Collection.open(folder, readonly=True)
    made, closed = opened
    assert len(made) == 10 and all(handle in closed for handle in made)


def test_a_writer_failing_to_read_its_sparse_tables_closes_its_connection_and_frees_the_lock(folder, opened, monkeypatch):
    def interrupted(*arguments, **options):
        raise KeyboardInterrupt("interrupted while reading the sparse tables")

    monkeypatch.setattr(sparse_tables, "CollectionSparse", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Collection.open(folder)
    made, closed = opened
    assert made and all(handle in closed for handle in made)
    monkeypatch.undo()
    with Collection.open(folder) as writer:  # the lock was released
        writer.add(["marmot"], ids=["m"])
