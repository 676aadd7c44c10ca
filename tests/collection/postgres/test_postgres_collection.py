"""The embedded store's behavioural tests, run against the PostgreSQL store on a real server."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.collection import Item
from densekit.collection.postgres import PostgresCollection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError, InvalidInputError, ModelMismatchError


def ids_of(hits):
    return [hit.id for hit in hits]


def test_add_get_count_and_search(pg_collection):
    assert pg_collection.count() == 6
    item = pg_collection.get("dog-1")
    assert item.text.startswith("The dog barked") and item.metadata == {"animal": "dog", "year": 2003}
    assert pg_collection.get("missing") is None
    hits = pg_collection.search("the dog barked at the postman", k=2)
    assert hits[0].id == "dog-1" and hits[0].score > hits[1].score
    assert hits[0].metadata["animal"] == "dog"


def test_scores_match_the_embedded_store(pg_collection, tmp_path, hashing_encoder, pet_texts):
    from densekit.collection import Collection

    with Collection.create(tmp_path / "pets", encoder=hashing_encoder) as embedded:
        embedded.add([t for _, t, _ in pet_texts], ids=[i for i, _, _ in pet_texts], metadata=[m for _, _, m in pet_texts])
        expected = [(hit.id, round(hit.score, 4)) for hit in embedded.search("a cat in the garden", k=6)]
    assert [(hit.id, round(hit.score, 4)) for hit in pg_collection.search("a cat in the garden", k=6)] == expected


def test_add_generates_ids_and_refuses_duplicates(pg_collection):
    new_ids = pg_collection.add(["fresh text about rabbits"])
    assert len(new_ids) == 1 and pg_collection.get(new_ids[0]).text == "fresh text about rabbits"
    with pytest.raises(InvalidInputError, match="cat-1"):
        pg_collection.add(["again"], ids=["cat-1"])
    with pytest.raises(InvalidInputError, match="'x' appears more than once"):
        pg_collection.add(["a", "b"], ids=["x", "x"])
    with pytest.raises(InvalidInputError, match="item 1 is an empty string"):
        pg_collection.add(["ok", ""])
    with pytest.raises(InvalidInputError, match="2 ids for 1 texts"):
        pg_collection.add(["one"], ids=["a", "b"])
    with pytest.raises(InvalidInputError, match="metadata 0 is str"):
        pg_collection.add(["one"], metadata=["nope"])
    assert pg_collection.count() == 7


def test_upsert_replaces_and_delete_removes(pg_collection):
    pg_collection.upsert(["A parrot repeated every word."], ids=["cat-1"], metadata=[{"animal": "bird"}])
    assert pg_collection.count() == 6
    assert pg_collection.get("cat-1").metadata == {"animal": "bird"}
    assert ids_of(pg_collection.search("parrot repeated every word", k=1)) == ["cat-1"]
    assert ids_of(pg_collection.search("parrot", k=3, mode="sparse")) == ["cat-1"]
    assert pg_collection.delete(["dog-1", "nothing-here"]) == 1
    assert pg_collection.count() == 5
    assert "dog-1" not in ids_of(pg_collection.search("dog barked postman", k=6))
    assert "dog-1" not in ids_of(pg_collection.search("dog barked postman", k=6, mode="sparse"))


def test_delete_by_document_removes_its_chunks(pg_collection):
    chunks = [Item(f"report#{n}", f"chunk {n} of the annual report", {}, parent="report", start=n, end=n + 1, hash="h1")
              for n in range(3)]  # fmt: skip
    pg_collection.add_items(chunks)
    assert pg_collection.document_hash("report") == "h1"
    assert pg_collection.get("report#2").start == 2
    assert pg_collection.delete("report") == 3
    assert pg_collection.count() == 6 and pg_collection.document_hash("report") is None


def test_filters_return_k_matching_hits(pg_collection):
    hits = pg_collection.search("interest rates", k=2, where={"animal": "cat"})
    assert sorted(ids_of(hits)) == ["cat-1", "cat-2"]
    hits = pg_collection.search("anything at all", k=10, where={"animal": {"$in": ["dog", "cat"]}})
    assert sorted(ids_of(hits)) == ["cat-1", "cat-2", "dog-1", "dog-2"]
    hits = pg_collection.search("bank", k=10, where={"year": {"$gte": 2005, "$lt": 2012}})
    assert sorted(ids_of(hits)) == ["cat-2", "dog-2", "fin-1"]
    for mode in ("sparse", "hybrid"):
        hits = pg_collection.search("dog walks", k=10, mode=mode, where={"animal": "dog"})
        assert set(ids_of(hits)) <= {"dog-1", "dog-2"} and "dog-2" in ids_of(hits)
    assert pg_collection.search("the cat", k=10, mode="sparse", where={"topic": "finance"}) == []
    assert pg_collection.search("cat", k=3, where={"animal": "fish"}) == []
    with pytest.raises(InvalidInputError, match=r"unknown filter operator '\$like'"):
        pg_collection.search("cat", where={"animal": {"$like": "c%"}})


@pytest.mark.parametrize(
    "where, expected",
    [
        ({"animal": {"$ne": "cat"}}, ["dog-1", "dog-2", "fin-1", "fin-2"]),  # a missing key is "not cat"
        ({"animal": {"$nin": ["cat"]}}, ["dog-1", "dog-2"]),  # ... but not "in" or "not in" anything
        ({"topic": None}, ["cat-1", "cat-2", "dog-1", "dog-2"]),
        ({"topic": {"$ne": None}}, ["fin-1", "fin-2"]),
        ({"year": {"$gt": 2008}}, ["dog-2", "fin-2"]),
        ({"year": {"$lte": 2003.0}}, ["cat-1", "dog-1"]),
        ({"year": {"$eq": 2005}}, ["cat-2"]),
        ({"animal": {"$gt": "cow"}}, ["dog-1", "dog-2"]),
        ({"year": {"$gt": "2000"}}, []),  # comparisons hold between values of one JSON type only
    ],
)
def test_filter_operators_agree_with_the_embedded_store(pg_collection, where, expected):
    assert sorted(ids_of(pg_collection.search("anything", k=10, where=where))) == expected


def test_sparse_and_hybrid_modes(pg_collection):
    assert ids_of(pg_collection.search("postman", k=3, mode="sparse")) == ["dog-1"]
    assert ids_of(pg_collection.search("barking dogs", k=3, mode="sparse")) == ["dog-1", "dog-2"]  # stemmed
    assert pg_collection.search("the and of", k=3, mode="sparse") == []  # only stop words
    assert pg_collection.search("it's o'clock \\ now", k=3, mode="sparse") == []  # quotes are escaped
    hybrid = pg_collection.search("interest rates bank", k=3, mode="hybrid")
    assert set(ids_of(hybrid)[:2]) == {"fin-1", "fin-2"}
    weighted = pg_collection.search("interest rates bank", k=3, mode="hybrid", alpha=0.5)
    assert set(ids_of(weighted)[:2]) == {"fin-1", "fin-2"}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"query": ""}, "query must be a non-empty string"),
        ({"query": "cat", "k": 0}, "k must be a positive integer, got 0"),
        ({"query": "cat", "k": "3"}, "got '3'"),
        ({"query": "cat", "mode": "semantic"}, "unknown search mode 'semantic'; valid: dense, sparse, hybrid"),
        ({"query": "cat", "mode": "hybrid", "alpha": 1.5}, "alpha must be a number between 0 and 1"),
        ({"query": "cat", "space": "images"}, "no space 'images'"),
        ({"query": "cat", "where": {"a'; DROP TABLE x; --": 1}}, "not allowed in a filter"),
    ],
)
def test_bad_search_input(pg_collection, arguments, message):
    with pytest.raises(InvalidInputError, match=message):
        pg_collection.search(**arguments)


def test_k_larger_than_collection_returns_everything(pg_collection):
    assert len(pg_collection.search("cat", k=100)) == 6


def test_reopen_readonly_returns_same_results_and_refuses_writes(pg_collection, pg_url, hashing_encoder):
    before = [(h.id, round(h.score, 5)) for h in pg_collection.search("a cat in the garden", k=4)]
    with PostgresCollection.open(f"{pg_url}?collection={pg_collection.name}", readonly=True) as reader:
        assert [(h.id, round(h.score, 5)) for h in reader.search("a cat in the garden", k=4)] == before
        assert reader.count() == 6
        with pytest.raises(CollectionError, match="read-only"):
            reader.add(["no"])
    pg_collection.close()
    with pytest.raises(CollectionError, match="is closed"):
        pg_collection.count()


def test_model_recorded_in_the_database_and_mismatch_refused(pg_collection, pg_url):
    import psycopg

    name = pg_collection.name
    with psycopg.connect(pg_url) as connection:
        manifest = connection.execute(f'SELECT manifest FROM "{name}_manifest"').fetchone()[0]
    assert manifest["format"] == 1 and manifest["spaces"]["text"]["encoder"]["model"] == "hashing:64"
    assert manifest["spaces"]["text"]["index"]["kind"] == "hnsw"
    with pytest.raises(ModelMismatchError, match="hashing:64"):
        PostgresCollection.open(pg_url, name=name, readonly=True, encoder=HashingEncoder(32))
    with pytest.raises(ModelMismatchError, match="all-MiniLM"):
        PostgresCollection.open(pg_url, name=name, readonly=True, model="sentence-transformers/all-MiniLM-L6-v2")
    with PostgresCollection.open(pg_url, name=name, readonly=True) as reader:  # rebuilds the recorded encoder
        with pytest.raises(ModelMismatchError, match="64-d"):
            reader.search_vector(np.ones(32, dtype=np.float32))
        assert ids_of(reader.search("postman", k=1)) == ["dog-1"]
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(f"""UPDATE "{name}_manifest" SET manifest = jsonb_set(manifest, '{{format}}', '7')""")
    with pytest.raises(CollectionError, match="format version 7; this densekit reads version 1"):
        PostgresCollection.open(pg_url, name=name, readonly=True)


def test_create_open_and_names(pg_collection, pg_url, hashing_encoder):
    with pytest.raises(CollectionError, match="already exists"):
        PostgresCollection.create(pg_url, name=pg_collection.name, encoder=hashing_encoder)
    with PostgresCollection.create(pg_url, name=pg_collection.name, encoder=hashing_encoder, exist_ok=True) as again:
        assert again.count() == 6
    with pytest.raises(CollectionError, match="no collection 'absent'"):
        PostgresCollection.open(pg_url, name="absent")
    with pytest.raises(InvalidInputError, match="collection name 'Bad-Name' is not allowed"):
        PostgresCollection.open(pg_url, name="Bad-Name")
    with pytest.raises(InvalidInputError, match="no collection name"):
        PostgresCollection.open(pg_url)
    with pytest.raises(InvalidInputError, match="unknown index kind 'ivf'"):
        PostgresCollection.create(pg_url, name="other", encoder=hashing_encoder, index="ivf")
    with pytest.raises(CollectionError, match="cannot connect"):
        PostgresCollection.open("postgresql://nobody@127.0.0.1:1/none", name="x")


def test_a_failing_batch_leaves_nothing(pg_collection):
    with pytest.raises(InvalidInputError, match="nothing was stored"):
        pg_collection.add(["fine one", "fine two", "a NUL \x00 PostgreSQL refuses"], ids=["ok-1", "ok-2", "bad"])
    assert pg_collection.count() == 6 and pg_collection.get("ok-1") is None
    with pytest.raises(RuntimeError, match="give up"):
        with pg_collection.transaction():
            pg_collection.add(["kept only if all commit"], ids=["grouped"])
            pg_collection.delete(["cat-1"])
            raise RuntimeError("give up")
    assert pg_collection.get("grouped") is None and pg_collection.get("cat-1") is not None
    with pg_collection.transaction():
        pg_collection.add(["kept"], ids=["grouped"])
        pg_collection.delete(["cat-1"])
    assert pg_collection.get("grouped") is not None and pg_collection.get("cat-1") is None


def test_concurrent_writers(pg_collection, pg_url, hashing_encoder):
    from concurrent.futures import ThreadPoolExecutor

    def write(worker: int) -> None:
        with PostgresCollection.open(pg_url, name=pg_collection.name, encoder=hashing_encoder) as handle:
            for batch in range(5):
                handle.add([f"worker {worker} batch {batch} text {n}" for n in range(10)],
                           ids=[f"w{worker}-{batch}-{n}" for n in range(10)])  # fmt: skip
                # Everyone also rewrites the same shared ids: upserts must not conflict.
                handle.upsert([f"shared text written by worker {worker}"], ids=["shared"], metadata=[{"by": worker}])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    assert pg_collection.count() == 6 + 4 * 5 * 10 + 1
    assert pg_collection.get("shared").metadata["by"] in range(4)
    assert ids_of(pg_collection.search("worker 3 batch 4 text 7", k=1)) == ["w3-4-7"]


def test_add_space_encodes_existing_items(pg_collection, pg_url):
    small = HashingEncoder(32)
    pg_collection.add_space("small", small)
    assert pg_collection.info()["spaces"]["small"] == {
        "model": "hashing:32", "dimension": 32, "backend": "hashing", "kind": "text", "index": "hnsw", "vectors": 6,
    }  # fmt: skip
    pg_collection.add(["a goldfish swam in its bowl"], ids=["fish-1"])
    assert ids_of(pg_collection.search("goldfish bowl", k=1, space="small")) == ["fish-1"]
    with pytest.raises(InvalidInputError, match="space 'small' already exists"):
        pg_collection.add_space("small", small)
    with PostgresCollection.open(pg_url, name=pg_collection.name, readonly=True) as reader:
        assert set(reader.spaces) == {"text", "small"}
        assert ids_of(reader.search_vector(small.encode(["goldfish bowl"])[0], k=1, space="small")) == ["fish-1"]


def test_filtered_search_at_one_percent_selectivity_returns_k(pg_url, pg_name, hashing_encoder):
    """pgvector >= 0.8 iterative HNSW scans: k hits although only 1% of rows pass the filter."""
    words = ["river", "mountain", "forest", "desert", "ocean", "valley", "island", "glacier"]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, 5)) + f" place {n}" for n in range(2000)]
    metadata = [{"tag": "rare" if n % 100 == 0 else "common", "n": n} for n in range(2000)]
    with PostgresCollection.create(pg_url, name=pg_name, encoder=hashing_encoder) as collection:
        collection.add(texts, ids=[f"p{n}" for n in range(2000)], metadata=metadata)
        with collection._read() as connection:
            connection.execute("ANALYZE " + f'"{pg_name}_items"')
            from densekit.collection.postgres import search as pg_search

            vector = hashing_encoder.encode(["river forest"])[0]
            condition = ('metadata @> %s::jsonb', ['{"tag": "rare"}'])
            with connection.transaction():
                connection.execute("SET LOCAL hnsw.iterative_scan = strict_order")
                # Make the planner take the HNSW index (it would sort the few GIN matches exactly).
                connection.execute("SET LOCAL enable_seqscan = off")
                connection.execute("SET LOCAL enable_bitmapscan = off")
                plan = "\n".join(row[0] for row in connection.execute(
                    f'EXPLAIN SELECT rowid FROM "{pg_name}_items" WHERE metadata @> %s::jsonb '
                    f"ORDER BY vec_text <#> %b LIMIT 10", ['{"tag": "rare"}', vector]))  # fmt: skip
                found = connection.execute(
                    f'SELECT rowid FROM "{pg_name}_items" WHERE metadata @> %s::jsonb '
                    f"ORDER BY vec_text <#> %b LIMIT 10", ['{"tag": "rare"}', vector]).fetchall()  # fmt: skip
                connection.execute("SET LOCAL hnsw.iterative_scan = off")
                plain = connection.execute(
                    f'SELECT rowid FROM "{pg_name}_items" WHERE metadata @> %s::jsonb '
                    f"ORDER BY vec_text <#> %b LIMIT 10", ['{"tag": "rare"}', vector]).fetchall()  # fmt: skip
            assert "hnsw" in plan and len(found) == 10  # the index scan alone, no fallback, found all 10
            assert len(plain) < 10  # what a scan without iteration gives: the filter ate its ef_search (96) candidates
            assert len(pg_search.dense_candidates(connection, pg_name, vector, "text", 10, condition, {})) == 10
        hits = collection.search("river forest", k=10, where={"tag": "rare"})
        assert len(hits) == 10 and all(hit.metadata["tag"] == "rare" for hit in hits)
        assert len(collection.search("river forest", k=40, where={"tag": "rare"})) == 20  # every match
