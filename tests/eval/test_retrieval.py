"""The retrieval evaluation runner: hand-computed metrics, a real Quoref slice, input errors."""

import math

import pytest

from densekit.collection import Collection
from densekit.errors import InvalidInputError, ModelMismatchError
from densekit.eval.datasets import Document, Query, load_corpus, load_queries
from densekit.eval.passages import ChunkSettings, split_passages
from densekit.eval.retrieval import (
    build_collection,
    check_k_values,
    evaluate_retrieval,
    format_table,
    parse_modes,
    ranked_passages,
    run_retrieval_benchmark,
)

SLICE = 60


@pytest.fixture(scope="module")
def quoref_slice(shared_data):
    """The first 60 Quoref passages and every question about them (real data, never copied)."""
    documents = load_corpus(shared_data / "quoref" / "passages.jsonl", strict=True).items[:SLICE]
    ids = {document.id for document in documents}
    questions = load_queries(shared_data / "quoref" / "questions.jsonl", strict=True).items
    return documents, [query for query in questions if query.relevant[0] in ids]


@pytest.fixture(scope="module")
def hashing_collection(tmp_path_factory, quoref_slice):
    from densekit.encoders.hashing import HashingEncoder

    folder = tmp_path_factory.mktemp("quoref") / "collection"
    collection = Collection.create(folder, encoder=HashingEncoder(64))
    build_collection(collection, quoref_slice[0])
    yield collection
    collection.close()


class _Hit:
    def __init__(self, id_, parent=None):
        self.id = id_
        self.parent = parent


class ScriptedCollection:
    """A stand-in whose rankings are fixed per (question, mode), so every metric can be worked out by hand."""

    def __init__(self, rankings, ids):
        self.rankings = rankings
        self.ids = set(ids)
        self.calls = []

    def get(self, id_):
        return id_ if id_ in self.ids else None

    def search(self, query, k=5, mode="dense", **options):
        self.calls.append((query, k, mode, options))
        return [_Hit(id_) for id_ in self.rankings[(query, mode)][:k]]


def test_metrics_match_a_hand_computation():
    rankings = {
        ("q1", "dense"): ["a", "b", "c", "d"],
        ("q2", "dense"): ["d", "b", "a", "c"],
        ("q1", "sparse"): ["b", "c", "d"],  # a is never found
        ("q2", "sparse"): ["c", "b", "a", "d"],
    }
    collection = ScriptedCollection(rankings, "abcd")
    queries = [Query("q1", ("a",)), Query("q2", ("b", "c"))]
    result = evaluate_retrieval(collection, queries, ["dense", "sparse"], k_values=(1, 2, 3), rrf_k=5)

    dense, sparse = result["modes"]["dense"], result["modes"]["sparse"]
    # dense: q1 finds a at rank 1; q2 finds b at rank 2 and c at rank 4.
    assert dense["recall@1"] == pytest.approx((1 + 0) / 2)
    assert dense["recall@2"] == pytest.approx((1 + 0.5) / 2)
    assert dense["recall@3"] == pytest.approx((1 + 0.5) / 2)
    assert dense["mrr@10"] == pytest.approx((1 + 1 / 2) / 2)
    q2_ndcg = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert dense["ndcg@10"] == pytest.approx((1 + q2_ndcg) / 2)
    # sparse: q1 misses entirely; q2 has c at rank 1 and b at rank 2 (a perfect ranking).
    assert sparse["recall@1"] == pytest.approx((0 + 0.5) / 2)
    assert sparse["recall@2"] == pytest.approx((0 + 1) / 2)
    assert sparse["mrr@10"] == pytest.approx((0 + 1) / 2)
    assert sparse["ndcg@10"] == pytest.approx((0 + 1) / 2)
    assert result["per_query"] == {"dense": [1, 2], "sparse": [None, 1]}
    assert result["queries"] == 2 and result["depth"] == 10  # MRR@10 and nDCG@10 need 10 even when k <= 3
    # Every search asks for the full depth and carries the caller's options.
    assert {(k, options["rrf_k"]) for _, k, _, options in collection.calls} == {(10, 5)}
    assert dense["queries_per_second"] > 0 and dense["search_seconds"] >= 0

    table = format_table(result).splitlines()
    assert table[0].split() == ["mode", "recall@1", "recall@2", "recall@3", "mrr@10", "ndcg@10", "queries/s"]
    assert table[1].split()[:6] == ["dense", "0.5000", "0.7500", "0.7500", "0.7500", f"{(1 + q2_ndcg) / 2:.4f}"]


def test_unanswerable_queries_are_reported_and_skipped():
    collection = ScriptedCollection({("q1", "dense"): ["a", "b"], ("q3", "dense"): ["b", "a"]}, "abc")
    queries = [Query("q1", ("a",)), Query("q2", ("zz",)), Query("q3", ("a", "zz"))]
    result = evaluate_retrieval(collection, queries, "dense", k_values=(1,))
    assert result["queries"] == 2
    assert "query 2 of 3 ('q2')" in result["problems"][0] and "skipped" in result["problems"][0]
    assert "query 3 of 3" in result["problems"][1] and "'zz'" in result["problems"][1]
    # q3 keeps its missing id in the denominator: a at rank 2 gives recall@1 0, MRR 1/2.
    assert result["modes"]["dense"]["mrr@10"] == pytest.approx((1 + 0.5) / 2)
    with pytest.raises(InvalidInputError, match="no query can be scored"):
        evaluate_retrieval(collection, [Query("q2", ("zz",))], "dense")


def test_bad_modes_and_cutoffs_are_rejected():
    assert parse_modes(" Dense,hybrid,dense ") == ["dense", "hybrid"]
    with pytest.raises(InvalidInputError, match="unknown search mode 'bm25'; valid: dense, sparse, hybrid"):
        parse_modes("dense,bm25")
    with pytest.raises(InvalidInputError, match="no search mode"):
        parse_modes(" , ")
    for bad in ([0], [5, -1], [], [True], [2.5]):
        with pytest.raises(InvalidInputError):
            check_k_values(bad)
    collection = ScriptedCollection({}, "a")
    with pytest.raises(InvalidInputError, match="not 'mode', 'k' or 'group'"):
        evaluate_retrieval(collection, [Query("q", ("a",))], "dense", k=5)


def test_quoref_slice_with_the_hashing_encoder(hashing_collection, quoref_slice):
    documents, queries = quoref_slice
    # Chunked as densekit index chunks (the hashing encoder reads 128 tokens: 126-token chunks).
    chunks = split_passages(hashing_collection.encoder(), documents, ChunkSettings())
    assert hashing_collection.count() == len(chunks) > 2 * SLICE and len(queries) > SLICE
    progress = []
    result = evaluate_retrieval(hashing_collection, queries, ["dense", "sparse", "hybrid"],
                                progress=lambda done, total: progress.append((done, total)))
    assert result["queries"] == len(queries) and result["problems"] == []
    assert progress[-1] == (3 * len(queries), 3 * len(queries))
    for mode, values in result["modes"].items():
        recalls = [values[f"recall@{k}"] for k in (1, 5, 10, 20, 100)]
        assert recalls == sorted(recalls), mode  # recall never falls as k grows
        assert 0 <= values["mrr@10"] <= 1 and 0 <= values["ndcg@10"] <= 1
        # One relevant passage per question: recall@1 is the share of questions answered at rank 1.
        ranks = result["per_query"][mode]
        assert values["recall@1"] == pytest.approx(sum(rank == 1 for rank in ranks) / len(ranks))
    # Only 60 passages, depth 100: the dense side ranks every passage, so recall@100 is complete.
    assert result["modes"]["dense"]["recall@100"] == 1.0
    # Questions name people and places from their passage: BM25 finds most at rank 1.
    assert result["modes"]["sparse"]["mrr@10"] > 0.7
    # The runner's ranks are exactly what collection.search returns, each passage at its best chunk.
    for mode in ("dense", "sparse", "hybrid"):
        for query, rank in list(zip(queries, result["per_query"][mode]))[:10]:
            hits = hashing_collection.search(query.question, k=len(chunks), mode=mode)
            passages = list(dict.fromkeys(hit.parent for hit in hits))[:100]
            grouped = hashing_collection.search(query.question, k=100, mode=mode, group="parent")
            assert [hit.parent for hit in grouped] == passages, mode
            wanted = query.relevant[0]
            assert (passages.index(wanted) + 1 if wanted in passages else None) == rank, mode


def test_weighted_hybrid_extremes_equal_the_single_modes(hashing_collection, quoref_slice):
    queries = quoref_slice[1][:40]
    single = evaluate_retrieval(hashing_collection, queries, ["sparse"], k_values=(1, 5))
    weighted = evaluate_retrieval(hashing_collection, queries, ["hybrid"], k_values=(1, 5), alpha=0.0)
    assert weighted["search_options"] == {"alpha": 0.0}
    for metric in ("recall@1", "recall@5", "mrr@10"):
        assert weighted["modes"]["hybrid"][metric] == pytest.approx(single["modes"]["sparse"][metric])


def test_build_resumes_and_reuses(tmp_path, quoref_slice, hashing_encoder):
    documents, queries = quoref_slice
    folder = tmp_path / "collection"
    first_chunks = len(split_passages(hashing_encoder, documents[:25], ChunkSettings()))
    all_chunks = len(split_passages(hashing_encoder, documents, ChunkSettings()))
    with Collection.create(folder, encoder=hashing_encoder) as collection:
        first = build_collection(collection, documents[:25], step=10)
        sparse = collection.sparse_index()  # committed in steps, merged at the end as densekit index does
        assert sparse.documents.statistics()["segments"] == sparse.chunks.statistics()["segments"] == 1
    assert (first.added, first.reused, first.truncated, first.passages) == (first_chunks, 0, 0, 25)
    progress = []
    result = run_retrieval_benchmark(folder, documents, queries[:20], "sparse", model="hashing",
                                     build_progress=lambda done, total: progress.append((done, total)))
    assert (result["build"]["added"], result["build"]["reused"]) == (all_chunks - first_chunks, first_chunks)
    assert progress[0] == (first_chunks, all_chunks) and progress[-1] == (all_chunks, all_chunks)
    assert result["passages"] == SLICE and result["extra_items"] == 0 and result["model"] == "hashing:64"
    assert result["split"] == f"passages split as densekit index does: 126-token chunks, 32 overlap ({SLICE} passages -> {all_chunks} chunks)"
    # A corpus smaller than the collection: extra items are counted (they can still be retrieved).
    again = run_retrieval_benchmark(folder, documents[:30], queries[:5], "sparse")
    thirty = len(split_passages(hashing_encoder, documents[:30], ChunkSettings()))
    assert again["build"]["added"] == 0 and again["extra_items"] == all_chunks - thirty
    with pytest.raises(ModelMismatchError):
        run_retrieval_benchmark(folder, documents, queries[:5], "dense", model="hashing:32")
    with pytest.raises(InvalidInputError, match="corpus is empty"):
        run_retrieval_benchmark(tmp_path / "other", [], queries[:5], "dense", model="hashing")


def test_ids_not_referenced_by_any_query_are_fine(tmp_path, hashing_encoder):
    documents = [Document("a", "cats purr on the warm mat"), Document("b", "dogs bark at the moon"),
                 Document("unused", "fish swim in the cold sea")]
    result = run_retrieval_benchmark(tmp_path / "c", documents, [Query("why do dogs bark", ("b",))], "sparse,dense",
                                     encoder=hashing_encoder, k_values=(1, 3))
    assert result["problems"] == [] and result["modes"]["sparse"]["recall@1"] == 1.0


@pytest.mark.slow
def test_real_minilm_run_on_the_quoref_slice(tmp_path, quoref_slice, minilm_encoder):
    documents, queries = quoref_slice
    result = run_retrieval_benchmark(tmp_path / "minilm", documents, queries, "dense,hybrid", encoder=minilm_encoder)
    build = result["build"]
    # Quoref passages run ~300 tokens; MiniLM reads 256 but was trained on 128: 126-token chunks, none truncated.
    assert build["max_length"] == 256 and build["truncated"] == 0 and build["chunks"] > 3 * SLICE
    assert "126-token chunks, 32 overlap" in result["split"]
    dense = result["modes"]["dense"]
    # Chance MRR@10 over 60 passages is about 0.05; a real sentence encoder does far better.
    assert dense["mrr@10"] > 0.3 and dense["recall@20"] > 0.7
    assert result["modes"]["hybrid"]["recall@100"] == 1.0
    # Whole passages (the model truncates them): reported, and the same queries are scored.
    whole = run_retrieval_benchmark(tmp_path / "whole", documents, queries, "dense", encoder=minilm_encoder,
                                    chunking=ChunkSettings(enabled=False))
    assert 0 < whole["build"]["truncated"] < SLICE and whole["build"]["chunks"] == SLICE
    assert whole["queries"] == result["queries"]


def test_passages_are_ranked_by_their_best_chunk_and_the_list_deepens():
    # Five chunks of passage "a" fill the first hits; the runner asks again for more hits.
    hits = [("a#0", "a"), ("a#1", "a"), ("a#2", "a"), ("b#0", "b"), ("a#3", "a"), ("c", None), ("b#1", "b")]

    class Chunked:
        calls = []

        def get(self, id_):
            return id_ if id_ in {"a#0", "b#0", "c"} else None

        def search(self, query, k=5, mode="dense", group=None, **options):
            assert group == "parent"
            self.calls.append(k)
            return [_Hit(id_, parent) for id_, parent in hits[:k]]  # chunks, as if not grouped

    collection = Chunked()
    assert ranked_passages(collection, "q", 2, "dense") == ["a", "b"]
    assert collection.calls == [2, 4]  # 2 hits gave one passage; 4 gave two
    collection.calls.clear()
    assert ranked_passages(collection, "q", 5, "dense") == ["a", "b", "c"]  # the collection ran out
    assert collection.calls == [5, 10]
    result = evaluate_retrieval(collection, [Query("q", ("b",)), Query("q", ("c",))], "dense", k_values=(1, 2))
    assert result["per_query"]["dense"] == [2, 3] and result["problems"] == []


def test_no_chunk_indexes_whole_passages_under_their_ids(tmp_path, quoref_slice, hashing_encoder):
    documents, queries = quoref_slice
    result = run_retrieval_benchmark(tmp_path / "whole", documents, queries[:30], "sparse", encoder=hashing_encoder,
                                     chunking=ChunkSettings(enabled=False))
    assert result["build"]["chunks"] == SLICE and result["extra_items"] == 0
    assert result["split"] == f"passages indexed whole (--no-chunk): {SLICE} passages, the model truncates long ones"
    with Collection.open(tmp_path / "whole") as collection:
        assert collection.count() == SLICE and collection.get(documents[0].id).parent is None
