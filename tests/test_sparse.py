"""SparseIndex: BM25 over int64 ids, allowed-id filtering, stop words, save/load."""

import sys

import numpy as np
import pytest

from densekit.errors import CollectionError, InvalidInputError, MissingDependencyError
from densekit.sparse import SparseIndex, stemmer_available

TEXTS = [
    "The quick brown fox jumps over the lazy dog",
    "A lazy cat sleeps all day",
    "Foxes are quick and clever animals",
    "Dogs bark at the mailman",
    "The and of",  # only stop words: indexed, never matched
]
IDS = np.array([10, 20, 30, 40, 50], dtype=np.int64)


@pytest.fixture()
def index():
    built = SparseIndex(stem=False)
    built.build(IDS, TEXTS)
    return built


def test_search_ranks_matching_documents_and_skips_zero_scores(index):
    scores, ids = index.search("lazy dog", k=10)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    # Doc 10 has both words; doc 20 only "lazy"; no other document shares a word.
    assert ids.tolist() == [10, 20]
    assert scores[0] > scores[1] > 0


def test_k_limits_hits(index):
    scores, ids = index.search("lazy dog", k=1)
    assert ids.tolist() == [10] and scores.shape == (1,)


def test_allowed_ids_filter_and_still_fill_k(index):
    # Without a filter the best hit is 10; restricted to {20, 40} both matching allowed docs come back.
    scores, ids = index.search("lazy dog dogs", k=2, allowed=np.array([20, 40]))
    assert sorted(ids.tolist()) == [20, 40]
    assert (scores > 0).all()
    assert index.search("lazy", k=5, allowed=np.array([30, 999]))[1].tolist() == []
    assert index.search("lazy", k=5, allowed=np.array([], dtype=np.int64))[1].tolist() == []


def test_allowed_matches_unfiltered_scores(index):
    full_scores, full_ids = index.search("quick lazy", k=10)
    scores, ids = index.search("quick lazy", k=10, allowed=np.array([30, 20]))
    expected = {int(i): float(s) for i, s in zip(full_ids, full_scores) if i in (20, 30)}
    assert {int(i): float(s) for i, s in zip(ids, scores)} == pytest.approx(expected)


def test_stop_word_and_unknown_queries_find_nothing(index):
    for query in ("the and of", "a", "zebra xylophone"):
        scores, ids = index.search(query, k=3)
        assert ids.size == 0 and scores.size == 0


@pytest.mark.parametrize("query", ["", "   ", None])
def test_empty_query_is_an_error(index, query):
    with pytest.raises(InvalidInputError, match="query"):
        index.search(query, k=3)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k(index, k):
    with pytest.raises(InvalidInputError, match="k must be"):
        index.search("fox", k=k)


def test_build_validates_input():
    index = SparseIndex(stem=False)
    with pytest.raises(InvalidInputError, match="one id per text"):
        index.build(np.array([1, 2]), ["only one"])
    with pytest.raises(InvalidInputError, match="unique"):
        index.build(np.array([1, 1]), ["a b", "c d"])
    with pytest.raises(InvalidInputError, match="integers"):
        index.build(np.array([1.5]), ["a b"])
    with pytest.raises(InvalidInputError, match="text 1"):
        index.build(np.array([1, 2]), ["fine", 3])


def test_rebuild_replaces_everything(index):
    index.build(np.array([99]), ["zebra stripes"])
    assert len(index) == 1
    assert index.search("lazy", k=5)[1].tolist() == []
    assert index.search("zebra", k=5)[1].tolist() == [99]


def test_empty_and_wordless_indexes():
    index = SparseIndex(stem=False)
    assert len(index) == 0
    assert index.search("fox", k=3)[1].size == 0
    index.build(np.array([1, 2]), ["the", ""])
    assert len(index) == 2
    assert index.search("fox", k=3)[1].size == 0


def test_save_load_round_trip(index, tmp_path):
    index.save(tmp_path / "sparse")
    loaded = SparseIndex.load(tmp_path / "sparse")
    assert len(loaded) == len(index)
    assert loaded.ids().tolist() == IDS.tolist()
    for query in ("lazy dog", "quick clever", "mailman"):
        expected_scores, expected_ids = index.search(query, k=5)
        scores, ids = loaded.search(query, k=5, allowed=None)
        assert ids.tolist() == expected_ids.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)


def test_save_load_empty_index(tmp_path):
    SparseIndex(stem=False).save(tmp_path / "empty")
    loaded = SparseIndex.load(tmp_path / "empty")
    assert len(loaded) == 0 and loaded.search("fox", k=1)[1].size == 0


def test_load_rejects_missing_or_foreign_folders(tmp_path):
    with pytest.raises(CollectionError, match="sparse.json"):
        SparseIndex.load(tmp_path)
    index = SparseIndex(stem=False)
    index.build(np.array([1]), ["fox"])
    index.save(tmp_path / "sparse")
    settings = tmp_path / "sparse" / "sparse.json"
    settings.write_text(settings.read_text().replace('"format": 2', '"format": 99'))
    with pytest.raises(CollectionError, match="format 99"):
        SparseIndex.load(tmp_path / "sparse")


def test_stemming_needs_pystemmer(monkeypatch):
    monkeypatch.setitem(sys.modules, "Stemmer", None)  # simulates PyStemmer not installed
    assert not stemmer_available()
    assert SparseIndex().stemmer_language is None
    with pytest.raises(MissingDependencyError, match="PyStemmer"):
        SparseIndex(stem=True)


def test_loading_a_stemmed_index_without_pystemmer_is_a_clear_error(tmp_path, monkeypatch):
    index = SparseIndex(stem=False)
    index.build(np.array([1]), ["fox"])
    index.save(tmp_path / "sparse")
    settings = tmp_path / "sparse" / "sparse.json"
    settings.write_text(settings.read_text().replace('"stemmer": null', '"stemmer": "english"'))
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    with pytest.raises(MissingDependencyError, match="PyStemmer"):
        SparseIndex.load(tmp_path / "sparse")


def test_many_documents_against_a_brute_force_count():
    # Seeded synthetic corpus: every document containing the query word must be found, no others.
    rng = np.random.default_rng(0)
    vocabulary = [f"word{number}" for number in range(50)]
    texts = [" ".join(rng.choice(vocabulary, size=8)) for _ in range(300)]
    ids = rng.permutation(10_000)[:300].astype(np.int64)
    index = SparseIndex(stem=False)
    index.build(ids, texts)
    expected = {int(ids[row]) for row, text in enumerate(texts) if "word7" in text.split()}
    scores, found = index.search("word7", k=300)
    assert set(found.tolist()) == expected
    assert np.all(np.diff(scores) <= 0)
    allowed = np.array(sorted(expected)[:3] + [int(ids[0])])
    assert set(index.search("word7", k=300, allowed=allowed)[1].tolist()) == set(allowed.tolist()) & expected


# --- chunks scored as their documents ------------------------------------------------------------

CHUNKS = ["Monteux led the Boston orchestra", "the orchestra toured Paris in 1952", "A cat sleeps", "dogs bark loudly"]
CHUNK_IDS = np.array([5, 6, 7, 8], dtype=np.int64)
PARENTS = ["monteux", "monteux", None, "dogs"]


@pytest.fixture()
def grouped():
    built = SparseIndex()
    built.build(CHUNK_IDS, CHUNKS, documents=PARENTS)
    return built


def test_documents_are_scored_whole_and_shown_by_their_best_chunk(grouped):
    # "Monteux" is in chunk 5 and "Paris" in chunk 6: the document matches both words.
    whole = SparseIndex()
    whole.build(np.array([0, 1, 2]), [CHUNKS[0] + " " + CHUNKS[1], CHUNKS[2], CHUNKS[3]])
    scores, ids = grouped.search("Monteux Paris", k=5)
    expected_scores, expected_rows = whole.search("Monteux Paris", k=5)
    assert expected_rows.tolist() == [0]
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    assert ids.tolist() == [5]  # tie on chunk scores (one word each): the earliest chunk
    assert grouped.search("toured in 1952", k=5)[1].tolist() == [6]  # the chunk that holds the words
    assert grouped.search("cat", k=5)[1].tolist() == [7]  # a text without a parent is its own document
    assert len(grouped) == 4 and grouped.ids().tolist() == CHUNK_IDS.tolist()


def test_allowed_chunks_stand_for_their_document(grouped):
    assert grouped.search("toured orchestra", k=5, allowed=np.array([5]))[1].tolist() == [5]
    assert grouped.search("Monteux", k=5, allowed=np.array([7, 8]))[1].size == 0


def test_overlapping_chunks_count_once(shared_data):
    # Real Quoref passages, split by the chunker densekit index uses: with spans, the grouped index
    # scores exactly like an index of the whole passages.
    from densekit.encoders.hashing import HashingEncoder
    from densekit.eval.datasets import load_corpus
    from densekit.eval.passages import ChunkSettings, split_passages

    passages = load_corpus(shared_data / "quoref" / "passages.jsonl", strict=True).items[:20]
    pieces = split_passages(HashingEncoder(64), passages, ChunkSettings(tokens=60, overlap=16))
    assert len(pieces) > 3 * len(passages)
    grouped = SparseIndex()
    grouped.build(np.arange(len(pieces)), [piece.text for piece in pieces], documents=[piece.parent for piece in pieces],
                  spans=[(piece.start, piece.end) for piece in pieces])
    whole = SparseIndex()
    whole.build(np.arange(len(passages)), [passage.text for passage in passages])
    without_spans = SparseIndex()
    without_spans.build(np.arange(len(pieces)), [piece.text for piece in pieces], documents=[piece.parent for piece in pieces])
    differs = 0
    for query in ("Who conducted the Boston Symphony Orchestra?", "What did the composer write in 1920?", "battle river war"):
        scores, ids = grouped.search(query, k=20)
        expected_scores, expected_rows = whole.search(query, k=20)
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)
        assert [pieces[i].parent for i in ids] == [passages[row].id for row in expected_rows]
        differs += not np.allclose(without_spans.search(query, k=20)[0], expected_scores, rtol=1e-5)
    assert differs > 0  # without spans, overlapping words count twice


def test_grouped_save_load_round_trip_and_format_1(grouped, tmp_path):
    grouped.save(tmp_path / "grouped")
    loaded = SparseIndex.load(tmp_path / "grouped")
    for query in ("Monteux Paris", "toured", "dogs cat"):
        expected_scores, expected_ids = grouped.search(query, k=5)
        scores, ids = loaded.search(query, k=5)
        assert ids.tolist() == expected_ids.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-6)
    # A folder written before documents existed (format 1) still loads, one document per text.
    plain = SparseIndex()
    plain.build(CHUNK_IDS, CHUNKS)
    plain.save(tmp_path / "old")
    settings = tmp_path / "old" / "sparse.json"
    settings.write_text(settings.read_text().replace('"format": 2', '"format": 1').replace('  "documents": null\n', '').replace('true,\n}', 'true\n}'))
    old = SparseIndex.load(tmp_path / "old")
    assert old.search("Monteux Paris", k=5)[1].tolist() == plain.search("Monteux Paris", k=5)[1].tolist() == [5, 6]


def test_every_text_its_own_document_is_the_plain_index():
    grouped = SparseIndex()
    grouped.build(CHUNK_IDS, CHUNKS, documents=[None, None, None, None])
    plain = SparseIndex()
    plain.build(CHUNK_IDS, CHUNKS)
    assert grouped.search("orchestra", k=5)[1].tolist() == plain.search("orchestra", k=5)[1].tolist()


@pytest.mark.parametrize("documents, spans, message", [
    (["a"], None, "got 4 texts but 1 document keys"),
    (PARENTS, [(0, 5)], "got 4 texts but 1 spans"),
    (PARENTS, [(0, 5), ("x", 9), None, None], "each span must be a \\(start, end\\) pair of integers"),
])
def test_grouping_input_errors(documents, spans, message):
    with pytest.raises(InvalidInputError, match=message):
        SparseIndex().build(CHUNK_IDS, CHUNKS, documents=documents, spans=spans)


def test_stemming_is_off_unless_asked():
    assert SparseIndex().stemmer_language is None
