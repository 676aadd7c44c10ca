"""``densekit eval retrieval`` through CliRunner and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError, ModelMismatchError
from densekit.eval.datasets import load_corpus, load_queries
from densekit.eval.passages import ChunkSettings, split_passages
from densekit.eval.retrieval import build_collection, evaluate_retrieval

DENSEKIT = str(Path(sys.executable).parent / "densekit")
PASSAGES = 60


@pytest.fixture(scope="module")
def quoref_files(shared_data, tmp_path_factory):
    """The first 60 Quoref passages and their questions, plus one bad line in each file."""
    folder = tmp_path_factory.mktemp("quoref-files")
    passages = (shared_data / "quoref" / "passages.jsonl").read_text(encoding="utf-8").splitlines()[:PASSAGES]
    ids = {json.loads(line)["id"] for line in passages}
    questions = [line for line in (shared_data / "quoref" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
                 if json.loads(line)["passage_id"] in ids]
    corpus, queries = folder / "passages.jsonl", folder / "questions.jsonl"
    corpus.write_text("\n".join(passages[:3] + ['{"id": "broken"'] + passages[3:]) + "\n", encoding="utf-8")
    # line 2: an empty question; the last line: a question about a passage not in the corpus
    lines = questions[:1] + ['{"question": "  ", "passage_id": "x"}'] + questions[1:]
    lines.append('{"question": "Who is nowhere?", "relevant": ["not-a-passage"]}')
    queries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return corpus, queries, len(questions)


def invoke(*arguments):
    return CliRunner().invoke(app, ["eval", "retrieval", *map(str, arguments)])


def test_json_matches_the_library_and_problems_are_reported(quoref_files, tmp_path):
    corpus, queries, count = quoref_files
    out = tmp_path / "result.json"
    result = invoke("--corpus", corpus, "--queries", queries, "--model", "hashing", "--json", "-q", "--out", out)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["queries"] == count and report["passages"] == PASSAGES and report["model"] == "hashing:64"
    assert report["backend"] == "hashing"  # what was measured
    assert report["skipped_lines"] == {"corpus": 1, "queries": 1}
    assert list(report["modes"]) == ["dense", "sparse", "hybrid"] and "per_query" not in report
    assert f"warning: skipped {corpus}:4: not valid JSON" in result.stderr
    assert f"warning: skipped {queries}:2: 'question' must be a non-empty string" in result.stderr
    assert "'Who is nowhere?'): none of its relevant ids is in the corpus ('not-a-passage'); skipped" in result.stderr

    with Collection.create(tmp_path / "library", encoder=HashingEncoder(64)) as collection:
        build_collection(collection, load_corpus(corpus).items)
        expected = evaluate_retrieval(collection, load_queries(queries).items)
    for mode in ("dense", "sparse", "hybrid"):
        for metric in ("recall@1", "recall@5", "recall@20", "recall@100", "mrr@10", "ndcg@10"):
            assert report["modes"][mode][metric] == pytest.approx(expected["modes"][mode][metric]), (mode, metric)
    saved = json.loads(out.read_text())
    assert saved["per_query"]["sparse"] == expected["per_query"]["sparse"]


def test_table_modes_alpha_limit_and_collection_reuse(quoref_files, tmp_path):
    corpus, queries, _ = quoref_files
    folder = tmp_path / "kept"
    first = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing", "--mode", "sparse,hybrid",
                   "--alpha", "0.5", "--limit", "12", "--collection", folder, "-q")
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0].split() == ["mode", "recall@1", "recall@5", "recall@10", "recall@20", "recall@100",
                                "mrr@10", "ndcg@10", "queries/s"]
    assert [line.split()[0] for line in lines[1:3]] == ["sparse", "hybrid"]
    assert "12 queries x 60 passages, model hashing:64 (backend hashing); index build" in first.stdout
    chunks = len(split_passages(HashingEncoder(64), load_corpus(corpus).items, ChunkSettings()))
    assert f"({chunks} items added, 0 reused)" in first.stdout
    assert (f"passages split as densekit index does: 126-token chunks, 32 overlap (60 passages -> {chunks} chunks); "
            "a passage counts at the rank of its best chunk") in first.stdout
    again = invoke("--corpus", corpus, "--queries", queries, "--mode", "dense", "--k", "1,3",
                   "--limit", "5", "--collection", folder, "--json", "-q")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["build"]["added"] == 0 and report["build"]["reused"] == chunks
    assert report["queries"] == 5 and report["k_values"] == [1, 3] and list(report["modes"]) == ["dense"]
    mismatch = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing:32", "--collection", folder, "-q")
    assert isinstance(mismatch.exception, ModelMismatchError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mode", "dense,bm25"], "unknown search mode 'bm25'; valid: dense, sparse, hybrid"),
        (["--k", "0,10"], "every k must be a positive integer, got 0"),
        (["--k", "ten"], "--k must be a comma list of positive integers, got 'ten'"),
        (["--limit", "0"], "--limit must be a positive integer, got 0"),
        (["--alpha", "1.5"], "--alpha must be between 0 and 1"),
        (["--backend", "tensorrt"], "unknown encoder backend 'tensorrt'; valid: torch, onnx, onnx-int8-row"),
        (["--no-chunk", "--chunk-tokens", "100"], "--no-chunk and --chunk-tokens contradict each other"),
        (["--chunk-tokens", "0"], "chunk tokens must be a positive integer, got 0"),
        (["--chunk-tokens", "20", "--overlap", "20"], "overlap 20 must be smaller than the chunk size 20 tokens"),
        (["--stsb", "x.csv"], "--stsb builds both the corpus and the queries; drop --corpus/--queries"),
    ],
)
def test_bad_options_are_clear_errors(quoref_files, options, message):
    corpus, queries, _ = quoref_files
    result = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing", "-q", *options)
    assert isinstance(result.exception, InvalidInputError) and message in str(result.exception)


def test_missing_files_strict_and_empty_inputs(quoref_files, tmp_path):
    corpus, queries, _ = quoref_files
    missing = invoke("--corpus", tmp_path / "absent.jsonl", "--queries", queries, "-m", "hashing", "-q")
    assert isinstance(missing.exception, InvalidInputError) and "absent.jsonl: no such file" in str(missing.exception)
    strict = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing", "-q", "--strict")
    assert isinstance(strict.exception, InvalidInputError) and f"{corpus}:4" in str(strict.exception)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"question": ""}\n\n', encoding="utf-8")
    no_queries = invoke("--corpus", corpus, "--queries", empty, "-m", "hashing", "-q")
    assert isinstance(no_queries.exception, InvalidInputError) and "no valid queries" in str(no_queries.exception)
    no_passages = invoke("--corpus", empty, "--queries", queries, "-m", "hashing", "-q")
    assert isinstance(no_passages.exception, InvalidInputError) and "no valid passages" in str(no_passages.exception)


def test_real_subprocess(quoref_files, tmp_path):
    corpus, queries, _ = quoref_files
    command = [DENSEKIT, "eval", "retrieval", "--corpus", str(corpus), "--queries", str(queries),
               "--model", "hashing", "--mode", "sparse", "--limit", "20", "--json", "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["queries"] == 20 and report["modes"]["sparse"]["mrr@10"] > 0.5
    bad = subprocess.run([part if part != "sparse" else "nope" for part in command], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "error: unknown search mode 'nope'" in bad.stderr


def test_chunk_options_change_the_split(quoref_files, tmp_path):
    corpus, queries, _ = quoref_files
    small = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing", "--mode", "sparse", "--limit", "10",
                   "--chunk-tokens", "50", "--overlap", "8", "--json", "-q")
    assert small.exit_code == 0, small.output
    report = json.loads(small.stdout)
    expected = len(split_passages(HashingEncoder(64), load_corpus(corpus).items, ChunkSettings(tokens=50, overlap=8)))
    assert report["build"]["chunks"] == expected > 269
    assert report["split"] == f"passages split with: 50-token chunks, 8 overlap (60 passages -> {expected} chunks)"
    whole = invoke("--corpus", corpus, "--queries", queries, "-m", "hashing", "--mode", "sparse", "--limit", "10",
                   "--no-chunk", "-q")
    assert whole.exit_code == 0, whole.output
    assert "passages indexed whole (--no-chunk): 60 passages" in whole.stdout


def test_stsb_paraphrase_task(shared_data, tmp_path):
    from densekit.eval.datasets import load_paraphrase_task

    source = shared_data / "stsb" / "sts-dev.csv"
    rows = source.read_text(encoding="utf-8").splitlines()[:200]
    sample = tmp_path / "sts-sample.csv"
    sample.write_text("\n".join(rows) + "\n", encoding="utf-8")
    task = load_paraphrase_task(sample)
    result = invoke("--stsb", sample, "-m", "hashing", "--mode", "sparse", "--json", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["queries"] == len(task.queries) > 20 and report["passages"] == len(task.documents)
    assert report["corpus"] == f"{sample} (paraphrase task)" and report["skipped_lines"] == {"stsb": 0}
    # Word overlap finds most paraphrases among 200 sentences.
    assert report["modes"]["sparse"]["mrr@10"] > 0.6
    with Collection.create(tmp_path / "library", encoder=HashingEncoder(64)) as collection:
        build_collection(collection, task.documents)
        expected = evaluate_retrieval(collection, task.queries, "sparse")
    assert report["modes"]["sparse"]["mrr@10"] == pytest.approx(expected["modes"]["sparse"]["mrr@10"])
    neither = invoke("-m", "hashing", "-q")
    assert isinstance(neither.exception, InvalidInputError) and "give --corpus and --queries" in str(neither.exception)
