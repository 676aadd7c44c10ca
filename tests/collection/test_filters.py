from __future__ import annotations

import pytest

from densekit.collection.embedded.filters import where_to_sql
from densekit.collection.where import parse_where_options
from densekit.errors import InvalidInputError


def test_values_are_parameters_and_key_paths_literal():
    condition, parameters = where_to_sql({"lang": "en", "year": {"$gte": 2000, "$in": [2001, 2002]}})
    assert "'en'" not in condition and "2000" not in condition
    assert parameters == ["en", 2000, 2001, 2002]
    # The key's path is written literally, so an expression index on the key serves the filter
    # (twice for $gte: bounded by '' to numbers, as one range of the index).
    assert condition.count("""json_extract(metadata, '$."year"')""") == 3


def test_an_indexed_key_is_read_through_its_index(tmp_path, hashing_encoder):
    from densekit.collection import Collection

    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        collection.add([f"text {n}" for n in range(50)], metadata=[{"group": n % 5, "tag": "t"} for n in range(50)])
        assert collection.index_keys(["group", "group"]) == ["group"]
        assert collection.index_keys(["group"]) == []
        condition, parameters = where_to_sql({"group": {"$in": [1, 2]}})
        plan = " ".join(str(row) for row in collection.store.connection.execute(
            f"EXPLAIN QUERY PLAN SELECT rowid FROM items WHERE {condition}", parameters))
        assert "items_by_key_" in plan, plan
        assert len(collection.search("text", k=50, where={"group": {"$in": [1, 2]}})) == 20
        with pytest.raises(InvalidInputError, match="cannot be indexed"):
            collection.index_keys(["bad'key"])


@pytest.mark.parametrize(
    "where, message",
    [
        ({"a'; DROP TABLE items; --": 1}, "not allowed in a filter"),
        ({"a": {"$regex": "x"}}, r"unknown filter operator '\$regex'"),
        ({"a": {"$in": []}}, "needs a non-empty list"),
        ({"a": [1, 2]}, "expected a string, number, boolean or null"),
        ({"a": {}}, "empty dict"),
        ("a=1", "where must be a dict"),
    ],
)
def test_bad_filters(where, message):
    with pytest.raises(InvalidInputError, match=message):
        where_to_sql(where)


def test_cli_options():
    assert parse_where_options(["category=tech,sport", "year=2005", "flag=true", "name=Ann"]) == {
        "category": {"$in": ["tech", "sport"]},
        "year": 2005,
        "flag": True,
        "name": "Ann",
    }
    with pytest.raises(InvalidInputError, match="not key=value"):
        parse_where_options(["novalue"])


@pytest.mark.parametrize("change", ["delete a chunk", "update a chunk's metadata", "upsert a chunk"])
def test_a_filtered_sparse_search_finds_a_document_written_again(tmp_path, hashing_encoder, change):
    """A change to one of a document's chunks writes its BM25 entry again under the same key (dead in
    the older segment, live in a new one). A filter allowing few documents looked up only the first
    copy, the dead one: sparse and hybrid search with such a filter lost the document until a merge."""
    from densekit.collection import Collection
    from densekit.collection.items import Item

    chunks = [Item(f"d#{n}", text, {"doc": "d", "chunk": n}, parent="d", start=n * 12, end=n * 12 + 11)
              for n, text in enumerate(["music apple", "river stone", "music tiger"])]
    others = [Item(f"o{n}", "music paper", {"doc": "other"}) for n in range(5)]
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        collection.add_items(chunks + others)
        collection.commit()
        if change == "delete a chunk":
            collection.delete(["d#1"])
        elif change == "update a chunk's metadata":
            collection.update(["d#2"], {"reviewed": True})
        else:
            collection.add_items([Item("d#2", "music tiger", {"doc": "d", "chunk": 2, "reviewed": True},
                                       parent="d", start=24, end=35)], replace=True)
        collection.commit()
    with Collection.open(tmp_path / "c", readonly=True, encoder=hashing_encoder) as reader:
        assert [hit.id for hit in reader.search("music", k=5, mode="sparse", where={"doc": "d"})] == ["d#0"]
        hybrid = reader.search("music", k=5, mode="hybrid", where={"doc": "d"}, explain=True)
        assert hybrid[0].explain["sparse"] is not None
        if change != "delete a chunk":
            found = reader.search("music tiger", k=5, mode="sparse", where={"reviewed": True})
            assert [hit.id for hit in found] == ["d#2"]


@pytest.fixture(params=["embedded", "postgres"])
def store_under_test(request, tmp_path):
    """(location, name) of a new collection in either store."""
    if request.param == "embedded":
        return tmp_path / "c", None
    return request.getfixturevalue("pg_url"), request.getfixturevalue("pg_name")


def test_comparisons_hold_within_one_type_and_nulls_in_lists_match_nothing(store_under_test, hashing_encoder):
    """Both stores alike: a number is never greater than a string (SQLite sorts text above every
    number, so ``delete(where={"year": {"$gt": 2000}})`` took an "unknown" year too), a string never
    less than a number; $nin with a null in its list matched nothing at all on SQLite."""
    from densekit.collection import Collection

    location, name = store_under_test
    values = {"n1999": 1999, "n2005": 2005, "f2010": 2010.5, "unknown": "unknown", "early": "early", "none": None}
    with Collection.create(location, encoder=hashing_encoder, name=name) as collection:
        collection.add([f"a note from {key}" for key in values], ids=list(values),
                       metadata=[{"year": value} for value in values.values()])
        collection.add(["a note without a year"], ids=["missing"])

        def matching(where):
            return sorted(hit.id for hit in collection.search("a note", k=20, mode="dense", where=where))

        assert matching({"year": {"$gt": 2000}}) == ["f2010", "n2005"]
        assert matching({"year": {"$lte": 2005}}) == ["n1999", "n2005"]
        assert matching({"year": {"$lt": "f"}}) == ["early"]
        assert matching({"year": {"$gte": "a"}}) == ["early", "unknown"]
        assert matching({"year": {"$nin": ["unknown", None]}}) == ["early", "f2010", "n1999", "n2005"]
        assert matching({"year": {"$in": [1999, None, "early"]}}) == ["early", "n1999"]
        assert collection.delete(where={"year": {"$gt": 2000}}) == 2
        collection.commit()
        assert matching({"year": {"$gte": "a"}}) == ["early", "unknown"]
