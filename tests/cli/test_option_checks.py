"""A bad option of index / search / ask / eval is refused in one line before anything happens: no new
collection is left behind, an existing one is unchanged, no model is loaded for nothing."""

from __future__ import annotations

import json

import pytest

from densekit.testing.cli import run_cli


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Canberra is the capital city of Australia.")
    (docs / "b.txt").write_text("Dune is a novel by Frank Herbert.")
    (tmp_path / "passages.jsonl").write_text(
        json.dumps({"id": "p1", "text": "Canberra is the capital city of Australia."}) + "\n")
    (tmp_path / "questions.jsonl").write_text(
        json.dumps({"question": "What is the capital of Australia?", "answers": ["Canberra"], "passage_id": "p1"}) + "\n")
    return tmp_path


def assert_refused(run, *words):
    assert run.code == 2, (run.stdout, run.stderr)
    assert run.stderr.startswith("error: ") and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, run.stderr


INDEX_OPTIONS = [
    (["--max-tokens", "0"], "--max-tokens is 0; expected 1 or more"),
    (["--max-tokens", "-5"], "--max-tokens is -5"),
    (["--max-tokens", "100000"], "expected 1 to"),  # past the model's own limit
    (["--overlap", "-1"], "--overlap is -1"),
    (["--max-tokens", "10", "--overlap", "10"], "--overlap 10 must be smaller than --max-tokens 10"),
    (["--batch-size", "0"], "--batch-size is 0"),
    (["--path-metadata", "nothing"], "--path-metadata 'nothing' names no key"),
    (["--index-key", "$bad"], "metadata key '$bad' cannot be indexed"),
    (["--index", "bogus"], "unknown index kind 'bogus'"),
]


@pytest.mark.parametrize("options, words", INDEX_OPTIONS, ids=[" ".join(options) for options, _ in INDEX_OPTIONS])
def test_index_creates_nothing_for_a_bad_option(files, options, words):
    assert_refused(run_cli(["index", files / "new", files / "docs", "-m", "hashing:64", "-q", *options]), words)
    assert not (files / "new").exists()


def test_index_leaves_an_existing_collection_as_it_was(files):
    assert run_cli(["index", files / "notes", files / "docs", "-m", "hashing:64", "-q"]).code == 0
    before = json.loads(run_cli(["info", files / "notes", "--json"]).stdout)
    (files / "docs" / "c.txt").write_text("A third document that a refused run must not add.")
    for options, words in INDEX_OPTIONS[:-1]:  # --index only applies to a new collection
        assert_refused(run_cli(["index", files / "notes", files / "docs", "-q", *options]), words)
    after = json.loads(run_cli(["info", files / "notes", "--json"]).stdout)
    assert (after["count"], after["generation"]) == (before["count"], before["generation"])


@pytest.mark.parametrize("arguments, words", [
    (["search", "{notes}", "capital", "-k", "0"], "-k must be a positive integer, got 0"),
    (["search", "{notes}", "capital", "-k", "10001"], "-k is 10001; at most 10000"),
    (["search", "{notes}", "capital", "--mode", "hybrid", "--alpha", "2"], "--alpha is 2.0; expected a number from 0 to 1"),
    # Refused before the reader is loaded: the message is about -k, not the missing reader.
    (["ask", "{notes}", "Which city?", "-k", "0"], "-k must be a positive integer"),
    (["ask", "{notes}", "Which city?", "--answers", "0"], "--answers must be a positive integer"),
])
def test_search_and_ask_refuse_before_loading(files, arguments, words):
    assert run_cli(["index", files / "notes", files / "docs", "-m", "hashing:64", "-q"]).code == 0
    assert_refused(run_cli([part.format(notes=files / "notes") for part in arguments]), words)


@pytest.mark.parametrize("options, words", [
    (["--reader-k", "0"], "--reader-k must be a positive integer"),
    (["--k", "5", "--k", "0"], "--k must be a positive integer"),
    (["--limit", "0"], "--limit is 0; expected 1 or more"),
])
def test_eval_qa_builds_no_collection_for_a_bad_option(files, options, words):
    run = run_cli(["eval", "qa", "--passages", files / "passages.jsonl", "--questions", files / "questions.jsonl",
                   "--collection", files / "qa-collection", "-q", *options])
    assert_refused(run, words)
    assert not (files / "qa-collection").exists()


@pytest.mark.parametrize("options, words", [
    (["--chunk-tokens", "0"], "chunk tokens must be a positive integer"),
    (["--overlap", "-1"], "overlap must be an integer >= 0"),
    (["--limit", "0"], "--limit must be a positive integer"),
    (["--alpha", "2"], "--alpha must be between 0 and 1"),
    (["--k", "0"], "0"),
])
def test_eval_retrieval_builds_no_collection_for_a_bad_option(files, options, words):
    run = run_cli(["eval", "retrieval", "--corpus", files / "passages.jsonl", "--queries", files / "questions.jsonl",
                   "-m", "hashing:64", "--collection", files / "retrieval-collection", "-q", *options])
    assert_refused(run, words)
    assert not (files / "retrieval-collection").exists()
