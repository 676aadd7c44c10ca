"""The `--json` keys docs/cli.md promises are a stable API: each cheap command still prints them,
and the page still lists them (a key may be added, never dropped)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app

DOCS = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
runner = CliRunner()


def run_json(arguments: list[str]):
    result = runner.invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_keys(value: dict, keys: set[str]) -> None:
    assert keys <= set(value), f"missing: {keys - set(value)}"
    undocumented = {key for key in keys if not any(f"`{key}{mark}`" in DOCS for mark in ("", "[]", "{}"))}
    assert not undocumented, f"not in docs/cli.md: {undocumented}"


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("json-keys")
    (root / "docs").mkdir()
    (root / "docs" / "cat.txt").write_text("The cat sat on the mat.\n")
    (root / "docs" / "rates.md").write_text("Rates rose again at the bank.\n")
    report = run_json(["index", str(root / "c"), str(root / "docs"), "--model", "hashing", "--quiet"])
    assert_keys(report, {"added_documents", "replaced_documents", "unchanged_documents", "chunks_written",
                         "problems", "collection", "items", "commits"})
    return root / "c"


def test_similarity_and_compare_keys():
    assert_keys(run_json(["similar", "a", "b", "-m", "hashing"]), {"texts", "cosine"})
    ranking = run_json(["similar", "a", "b", "--query", "c", "-m", "hashing"])
    assert_keys(ranking, {"query", "ranking"})
    assert_keys(ranking["ranking"][0], {"index", "text", "score"})
    pair = run_json(["compare", "a b", "b c", "-m", "hashing"])
    assert_keys(pair, {"text_a", "text_b", "bag_of_words", "content_words", "dense", "shared_words",
                       "shared_content_words", "model", "texts", "matrices", "pairs"})
    many = run_json(["compare", "a", "b", "c", "-m", "hashing"])
    assert_keys(many, {"texts", "model", "matrices", "pairs"})
    assert_keys(many["matrices"], {"bag_of_words", "content_words", "dense"})


def test_embed_keys(tmp_path):
    written = run_json(["embed", "a", "b", "-o", str(tmp_path / "v.npy"), "-m", "hashing"])
    assert_keys(written, {"out", "format", "model", "backend", "dimension", "count", "normalized", "ids_file"})


def test_collection_keys(collection, tmp_path):
    search = run_json(["search", str(collection), "cat", "-m", "hashing"])
    assert_keys(search, {"query", "mode", "hits"})
    assert_keys(search["hits"][0], {"id", "score", "text", "metadata", "parent", "start", "end"})
    info = run_json(["info", str(collection)])
    assert_keys(info, {"path", "generation", "count", "spaces", "sparse", "size_bytes"})
    assert_keys(info["spaces"]["text"], {"model", "dimension", "backend", "kind", "index", "vectors"})
    assert_keys(run_json(["check", str(collection)]), {"collection", "ok", "problems"})
    copy = run_json(["copy", str(collection), str(tmp_path / "copy"), "--quiet"])
    assert_keys(copy, {"source", "destination", "total", "copied", "skipped", "resumed", "created", "spaces"})
    assert_keys(run_json(["delete", str(tmp_path / "copy"), "nothing"]), {"removed", "items"})


def test_model_list_keys():
    listed = run_json(["models"])
    assert_keys(listed[0], {"reference", "found_at", "source", "dimension", "max_seq_length", "size_bytes"})


def test_word_keys(tmp_path):
    pytest.importorskip("gensim")
    import numpy as np

    from densekit.pipelines.words import from_arrays, save_vectors

    words = ["king", "queen", "man", "woman", "apple", "pear", "monday", "tuesday"]
    vectors = np.random.default_rng(0).normal(size=(len(words), 8)).astype(np.float32)
    path = save_vectors(from_arrays(words, vectors), tmp_path / "toy.model")
    similar = run_json(["words", "similar", str(path), "king", "-k", "2"])
    assert_keys(similar, {"word", "similar"})
    assert_keys(similar["similar"][0], {"word", "score"})
    analogy = run_json(["words", "analogy", str(path), "king", "-", "man", "+", "woman"])
    assert_keys(analogy, {"positive", "negative", "answers"})
    assert_keys(run_json(["words", "odd-one-out", str(path), "king", "queen", "apple"]), {"odd", "similarity_to_mean"})
    plot = run_json(["words", "plot", str(path), "king", "queen", "apple", "pear", "-o", str(tmp_path / "p.png"), "--no-html"])
    assert_keys(plot, {"png", "html", "points"})
    assert_keys(plot["points"][0], {"word", "group", "coordinates"})
    report = run_json(["words", "evaluate", str(path)])
    assert_keys(report, {"analogies", "wordsim353", "simlex999"})
    assert_keys(report["analogies"], {"sections", "total", "questions", "skipped"})
    assert_keys(report["wordsim353"], {"spearman", "pearson", "pairs", "oov_percent"})
