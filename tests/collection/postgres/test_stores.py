"""open_collection / create_collection pick the store from the location."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.collection.postgres import PostgresCollection
from densekit.collection.registry import collection_exists, create_collection, is_url, open_collection
from densekit.errors import InvalidInputError


def test_location_decides_the_store(tmp_path, pg_url, pg_name, hashing_encoder):
    assert is_url("postgres://me@db/x") and not is_url(tmp_path / "postgresql") and not is_url("notes")
    with create_collection(tmp_path / "notes", encoder=hashing_encoder) as folder:
        folder.add(["a note"], ids=["n1"])
    with open_collection(tmp_path / "notes", readonly=True) as reopened:
        assert isinstance(reopened, Collection) and reopened.count() == 1
    url = f"{pg_url}?collection={pg_name}"
    assert not collection_exists(url)
    with create_collection(url, encoder=hashing_encoder) as database:
        database.add(["a note"], ids=["n1"])
    assert collection_exists(url) and collection_exists(tmp_path / "notes")
    with open_collection(pg_url, name=pg_name, readonly=True) as reopened:
        assert isinstance(reopened, PostgresCollection) and reopened.get("n1").text == "a note"
    with pytest.raises(InvalidInputError, match="name='x' is for PostgreSQL collections"):
        open_collection(tmp_path / "notes", name="x")
