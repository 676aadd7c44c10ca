from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app

runner = CliRunner()


@pytest.fixture
def docs(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cats.txt").write_text("The cat sat on the warm mat by the fire.")
    (folder / "dogs.md").write_text("Dogs love long walks in the park.")
    (folder / "rows.jsonl").write_text(
        json.dumps({"id": "bank", "text": "The central bank kept interest rates unchanged.", "topic": "finance"}) + "\n"
        + json.dumps({"id": "mkt", "text": "Stock markets fell after the rate rise.", "topic": "finance"}) + "\n"
    )
    (folder / "broken.txt").write_bytes(b"\x00binary")
    return folder


def run(*arguments):
    result = runner.invoke(app, [str(argument) for argument in arguments])
    return result


def test_index_search_info_delete(tmp_path, docs):
    collection = tmp_path / "c"
    result = run("index", collection, docs, "--model", "hashing:64", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added_documents"] == 4 and report["items"] == 4
    assert report["problems"][0]["reason"].startswith("binary file")

    result = run("search", collection, "interest rates bank", "-k", "2", "--json")
    hits = json.loads(result.stdout)["hits"]
    assert result.exit_code == 0 and hits[0]["id"] == "bank#0" and hits[0]["parent"] == "bank"

    result = run("search", collection, "rates", "--mode", "sparse", "--where", "topic=finance", "--json")
    assert {hit["parent"] for hit in json.loads(result.stdout)["hits"]} == {"bank"}

    result = run("search", collection, "rates bank interest", "--mode", "sparse", "--group", "parent", "--json")
    parents = [hit["parent"] for hit in json.loads(result.stdout)["hits"]]
    assert result.exit_code == 0 and len(parents) == len(set(parents)) and parents[0] == "bank"

    result = run("search", collection, "cat mat")
    assert result.exit_code == 0 and "cats.txt" in result.stdout

    result = run("info", collection, "--json")
    details = json.loads(result.stdout)
    assert details["count"] == 4 and details["spaces"]["text"]["model"] == "hashing:64"
    assert "hashing:64" in run("info", collection).stdout

    result = run("index", collection, docs, "--json")
    assert json.loads(result.stdout)["unchanged_documents"] == 4

    result = run("delete", collection, "bank", "--json")
    assert json.loads(result.stdout) == {"removed": 1, "items": 3}

    result = run("check", collection)
    assert result.exit_code == 0 and "ok" in result.stdout
    (collection / "manifest.json").write_text((collection / "manifest.json").read_text().replace('"count": 3', '"count": 9'))
    result = run("check", collection, "--json")
    assert result.exit_code == 1 and "manifest counts 9 items" in result.stdout


def test_errors_are_clean_messages(tmp_path, docs):
    collection = tmp_path / "c"
    run("index", collection, docs, "--model", "hashing:64", "--quiet")
    cases = [
        (["search", collection, "x", "--mode", "fuzzy"], "unknown search mode 'fuzzy'"),
        (["search", collection, "x", "-k", "0"], "k must be a positive integer"),
        (["search", tmp_path / "nope", "x"], "does not exist"),
        (["index", collection, docs, "--model", "hashing:32"], "was built with 'hashing:64'"),
        (["search", collection, "x", "--where", "novalue"], "not key=value"),
    ]
    for arguments, message in cases:
        result = run(*arguments)
        assert result.exit_code != 0
        error = str(result.exception) if result.exception else result.output
        assert message in error, (arguments, error)
    # Through a real process: the message on stderr, exit code 2, no traceback.
    completed = subprocess.run(
        [sys.executable, "-m", "densekit.cli.main", *map(str, cases[0][0])], capture_output=True, text=True
    )
    assert completed.returncode == 2 and cases[0][1] in completed.stderr and "Traceback" not in completed.stderr


def test_real_subprocess_end_to_end(tmp_path, docs):
    densekit = Path(sys.executable).with_name("densekit")
    collection = tmp_path / "c"
    subprocess.run([densekit, "index", collection, docs, "--model", "hashing:64", "--quiet"], check=True, capture_output=True)
    completed = subprocess.run(
        [densekit, "search", collection, "walks in the park", "--json"], check=True, capture_output=True, text=True
    )
    assert json.loads(completed.stdout)["hits"][0]["metadata"]["file"] == "dogs.md"


def test_similar_matrix_and_ranking(minilm_path):
    texts = ["The bees decided to have a mutiny against their queen", "It will rain tomorrow."]
    result = run("similar", *texts, "--query", "Flying stinging insects rebelled in opposition to the matriarch",
                 "--model", minilm_path, "--json")
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["ranking"]
    assert ranking[0]["index"] == 0 and ranking[0]["score"] > 0.3 > ranking[1]["score"]
    result = run("similar", *texts, "--model", minilm_path, "--json")
    matrix = json.loads(result.stdout)["cosine"]
    assert matrix[0][0] == pytest.approx(1.0, abs=1e-4) and matrix[0][1] == pytest.approx(matrix[1][0], abs=1e-5)
    assert "cosine similarity" in run("similar", *texts, "--model", minilm_path).stdout


def test_backend_must_match_the_collection(tmp_path, docs, minilm_path):
    collection = tmp_path / "c"
    result = run("index", collection, docs / "cats.txt", "--model", minilm_path, "--backend", "onnx-int8", "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(run("info", collection, "--json").stdout)
    assert details["spaces"]["text"]["backend"] == "onnx-int8"
    result = run("search", collection, "a cat", "--backend", "torch")
    assert result.exit_code != 0 and "backend 'onnx-int8'" in str(result.exception)
    result = run("search", collection, "a cat", "--backend", "onnx-int8", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["hits"][0]["parent"].endswith("cats.txt")


def test_usage_errors_have_no_traceback():
    densekit = Path(sys.executable).with_name("densekit")
    completed = subprocess.run([densekit, "similar", "--bogus"], capture_output=True, text=True)
    assert completed.returncode == 2 and "No such option: --bogus" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_reencode_command(tmp_path, docs):
    collection = tmp_path / "c"
    assert run("index", collection, docs, "--model", "hashing:64", "--quiet").exit_code == 0
    result = run("reencode", collection, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"collection": str(collection), "space": "text", "from_backend": "hashing",
                                         "to_backend": "hashing", "items": 4}
    assert run("check", collection).exit_code == 0


def test_index_lists_poisoned_and_duplicate_rows_and_exits_0(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "fine row", "v": 1}\n{"id": "b", "text": "bad row", "v": NaN}\n'
                    '{"id": "a", "text": "same id again"}\n{"id": "c", "text": "deep", "v": {"w": [Infinity]}}\n')
    result = run("index", tmp_path / "c", rows, "--model", "hashing:64", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added_documents"] == 1
    problems = {problem["path"].rpartition("/")[2]: problem["reason"] for problem in report["problems"]}
    assert set(problems) == {"rows.jsonl:2", "rows.jsonl:3", "rows.jsonl:4"}
    assert "must be finite" in problems["rows.jsonl:2"] and "duplicate id 'a'" in problems["rows.jsonl:3"]
    found = json.loads(run("search", tmp_path / "c", "row", "--where", "v=1", "--json").stdout)["hits"]
    assert [hit["id"] for hit in found] == ["a#0"]


def test_search_explain_table_and_json(tmp_path, docs):
    collection = tmp_path / "c"
    run("index", collection, docs, "--model", "hashing:64", "--quiet")
    query = "interest rates bank cat"
    result = run("search", collection, query, "--mode", "hybrid", "-k", "3", "--explain", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    dense = {hit["id"]: (hit["score"], rank) for rank, hit in
             enumerate(json.loads(run("search", collection, query, "--mode", "dense", "-k", "10", "--json").stdout)["hits"], start=1)}
    for hit in hits:
        explained = hit["explain"]
        assert explained["fusion"] == "probability"
        assert explained["score"] == pytest.approx(hit["score"], abs=1e-6)
        assert sum(explained[side]["share"] for side in ("dense", "sparse") if explained[side]) == pytest.approx(hit["score"], abs=1e-6)
        if explained["dense"]:
            assert (round(explained["dense"]["score"], 6), explained["dense"]["rank"]) == dense[hit["id"]]
    plain = json.loads(run("search", collection, query, "--mode", "hybrid", "-k", "3", "--json").stdout)["hits"]
    assert [hit["id"] for hit in plain] == [hit["id"] for hit in hits] and "explain" not in plain[0]

    table = run("search", collection, query, "--mode", "hybrid", "-k", "3", "--explain")
    assert table.exit_code == 0, table.output
    assert "fusion: probability" in table.stdout and "dense (cosine)" in table.stdout and "sparse (BM25)" in table.stdout
    first = hits[0]
    assert f"{first['score']:.4f}" in table.stdout and first["id"] in table.stdout
