"""densekit copy: folder -> PostgreSQL -> folder keeps items, metadata and vectors; interrupted copies resume."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.collection import Collection, Item
from densekit.collection.copy import copy_collection
from densekit.collection.embedded import EmbeddedCollection
from densekit.collection.postgres import PostgresCollection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError, ModelMismatchError


class Interrupted(Exception):
    pass


def _make_source(folder, encoder, count=120):
    with Collection.create(folder, encoder=encoder) as source:
        source.add([f"item {n} talks about {['rivers', 'hills', 'towns'][n % 3]}" for n in range(count)],
                   ids=[f"i{n}" for n in range(count)], metadata=[{"n": n, "even": n % 2 == 0} for n in range(count)])  # fmt: skip
        source.add_items([Item("doc#0", "first chunk of a document", {"src": "doc"}, parent="doc", start=0, end=25, hash="abc")])
        source.add_space("small", HashingEncoder(16))
        source.delete(["i5"])  # a hole in the row ids
    return folder


def _snapshot(collection):
    items, vectors = {}, {}
    for batch, batch_vectors in collection.export(batch=1000):
        for item in batch:
            items[item.id] = (item.text, item.metadata, item.parent, item.start, item.end, item.kind, item.hash)
        for space, array in batch_vectors.items():
            members = [item.id for item in batch if item.kind == collection.spaces[space].kind]
            for id_, vector in zip(members, array):
                vectors[(space, id_)] = vector
    return items, vectors


def _assert_same(left, right):
    assert left[0] == right[0]
    assert left[1].keys() == right[1].keys()
    for key in left[1]:
        np.testing.assert_array_equal(left[1][key], right[1][key])


def test_round_trip_folder_postgres_folder(tmp_path, pg_url, pg_name, hashing_encoder):
    source = _make_source(tmp_path / "source", hashing_encoder)
    report = copy_collection(source, pg_url, destination_name=pg_name, batch=50)
    assert (report.copied, report.skipped, report.created, report.spaces) == (120, 0, True, ["small", "text"])
    back = copy_collection(f"{pg_url}?collection={pg_name}", tmp_path / "back", batch=50)
    assert back.copied == 120
    with Collection.open(source, readonly=True) as original, PostgresCollection.open(pg_url, name=pg_name, readonly=True) as middle, \
            Collection.open(tmp_path / "back", readonly=True) as returned:  # fmt: skip
        first = _snapshot(original)
        _assert_same(first, _snapshot(middle))
        _assert_same(first, _snapshot(returned))
        query = "rivers and towns"
        expected = [(hit.id, round(hit.score, 4)) for hit in original.search(query, k=5, where={"even": True})]
        for other in (middle, returned):
            assert [(hit.id, round(hit.score, 4)) for hit in other.search(query, k=5, where={"even": True})] == expected
            assert other.encoder("small").info().as_dict() == original.spaces["small"].encoder_info
        assert returned.search("document chunk", k=1, mode="sparse")[0].id == "doc#0"  # sparse rebuilt from texts
        assert middle.search("document chunk", k=1, mode="sparse")[0].id == "doc#0"


@pytest.mark.parametrize("target", ["postgres", "folder"])
def test_interrupted_copy_resumes(tmp_path, pg_url, pg_name, hashing_encoder, monkeypatch, target):
    source = _make_source(tmp_path / "source", hashing_encoder)
    destination = f"{pg_url}?collection={pg_name}" if target == "postgres" else tmp_path / "copy"
    if target == "folder":
        monkeypatch.setattr(EmbeddedCollection, "commit_group", 30)
    seen = []

    def interrupt(done, total):
        seen.append(done)
        if done >= 60:
            raise Interrupted

    with pytest.raises(Interrupted):
        copy_collection(source, destination, batch=30, progress=interrupt)
    seen.clear()
    report = copy_collection(source, destination, batch=30, progress=lambda done, total: seen.append(done))
    assert report.resumed and report.skipped == 60 and report.copied == 60 and seen[0] == 60 and seen[-1] == 120
    again = copy_collection(source, destination, batch=30)
    assert again.copied == 0 and again.skipped == 120  # complete: nothing to do
    opener = PostgresCollection.open if target == "postgres" else Collection.open
    with Collection.open(source, readonly=True) as original, opener(destination, readonly=True) as copied:
        assert copied.count() == 120
        _assert_same(_snapshot(original), _snapshot(copied))


def test_copy_into_an_incompatible_collection_is_refused(tmp_path, pg_url, pg_name, hashing_encoder):
    source = _make_source(tmp_path / "source", hashing_encoder, count=3)
    with PostgresCollection.create(pg_url, name=pg_name, encoder=HashingEncoder(32)):
        pass
    with pytest.raises(CollectionError, match="no space 'small'"):
        copy_collection(source, f"{pg_url}?collection={pg_name}")
    with Collection.create(tmp_path / "other", encoder=HashingEncoder(32)) as other:
        other.add_space("small", HashingEncoder(16))
    with pytest.raises(ModelMismatchError, match="hashing:64"):
        copy_collection(source, tmp_path / "other")
