"""Dataset loaders on the real shared data and on generated malformed files."""

import json
from pathlib import Path

import pytest

from densekit.errors import InvalidInputError
from densekit.eval.datasets import Document, Query, StsPair, load_corpus, load_queries, load_sts


def test_real_quoref_passages_and_questions(shared_data):
    corpus = load_corpus(shared_data / "quoref" / "passages.jsonl", strict=True)
    queries = load_queries(shared_data / "quoref" / "questions.jsonl", strict=True)
    assert (len(corpus), len(queries)) == (1471, 3302)
    assert corpus.problems == [] and queries.problems == []
    assert corpus.items[0].id == "000f115b0a88"
    first = queries.items[0]
    assert first.relevant == ("9821bc1796c7",) and first.answers == ("Catherine",)
    passage_ids = {document.id for document in corpus}
    assert all(query.relevant[0] in passage_ids for query in queries)


def test_real_stsb_including_rows_with_extra_fields(shared_data):
    dev = load_sts(shared_data / "stsb" / "sts-dev.csv", strict=True)
    train = load_sts(shared_data / "stsb" / "sts-train.csv", strict=True)
    assert (len(dev), len(train)) == (1500, 5749)
    assert dev.items[0] == StsPair("A man with a hard hat is dancing.", "A man wearing a hard hat is dancing.", 5.0)
    assert all(0.0 <= pair.score <= 5.0 for pair in dev)
    # 22 dev rows carry 9 fields; the extra ones must not leak into sentence2.
    lines = (shared_data / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()
    row = next(number for number, line in enumerate(lines) if line.count("\t") > 6)
    assert dev.items[row].sentence2 == lines[row].split("\t")[6].strip()


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_corpus_problems_name_line_numbers(tmp_path):
    path = _write(tmp_path / "corpus.jsonl", [
        json.dumps({"id": "a", "text": "first"}),
        "{not json",
        json.dumps({"id": "b"}),
        "",
        json.dumps({"id": 7, "text": "numeric id", "extra": 1}),
        json.dumps(["id", "text"]),
        json.dumps({"id": "a", "text": "again"}),
        json.dumps({"id": "c", "text": "   "}),
    ])
    loaded = load_corpus(path)
    assert loaded.items == [Document("a", "first"), Document("7", "numeric id")]
    assert [problem.split(": ")[0] for problem in loaded.problems] == [
        f"{path}:2", f"{path}:3", f"{path}:6", f"{path}:7", f"{path}:8"]
    assert "not valid JSON" in loaded.problems[0]
    assert "'text'" in loaded.problems[1]
    assert "duplicate id 'a'" in loaded.problems[3]
    with pytest.raises(InvalidInputError, match=r"corpus.jsonl:2: not valid JSON"):
        load_corpus(path, strict=True)


def test_queries_both_layouts_and_problems(tmp_path):
    path = _write(tmp_path / "queries.jsonl", [
        json.dumps({"question": "q1", "relevant": ["p1", 2]}),
        json.dumps({"question": "q2", "answers": ["x"], "passage_id": "p9"}),
        json.dumps({"question": "q3"}),
        json.dumps({"question": "q4", "relevant": []}),
        json.dumps({"question": "q5", "answers": "x", "passage_id": "p1"}),
        json.dumps({"relevant": ["p1"]}),
    ])
    loaded = load_queries(path)
    assert loaded.items == [Query("q1", ("p1", "2")), Query("q2", ("p9",), ("x",))]
    assert [problem.split(": ")[0].rsplit(":", 1)[1] for problem in loaded.problems] == ["3", "4", "5", "6"]
    with pytest.raises(InvalidInputError, match=r"queries.jsonl:3: missing"):
        load_queries(path, strict=True)


def test_sts_problems(tmp_path):
    good = "\t".join(["g", "s", "2012", "0001", "3.5", "A cat.", "A kitten."])
    path = _write(tmp_path / "sts.csv", [
        good,
        "\t".join(["g", "s", "2012", "0002", "high", "A.", "B."]),
        "only\tthree\tfields",
        "\t".join(["g", "s", "2012", "0003", "2", "A dog.", "", "extra"]),
        "\t".join(["g", "s", "2012", "0004", "1.25", 'He said "hi".', "Quote\" inside", "extra", "more"]),
    ])
    loaded = load_sts(path)
    assert loaded.items == [StsPair("A cat.", "A kitten.", 3.5), StsPair('He said "hi".', 'Quote" inside', 1.25)]
    assert len(loaded.problems) == 3
    assert loaded.problems[0].startswith(f"{path}:2: score") and "'high'" in loaded.problems[0]
    assert loaded.problems[1].startswith(f"{path}:3: expected at least 7")
    assert loaded.problems[2].startswith(f"{path}:4: sentence1 and sentence2")
    with pytest.raises(InvalidInputError, match=r"sts.csv:2: score"):
        load_sts(path, strict=True)


def test_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(InvalidInputError, match="no such file"):
        load_sts(tmp_path / "absent.csv")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps({"id": "a", "text": "fine"}).encode() + b"\n" + b'{"id": "b", "text": "caf\xe9"}\n')
    loaded = load_corpus(path)
    assert [document.id for document in loaded] == ["a"]
    assert len(loaded.problems) == 1 and "not valid UTF-8" in loaded.problems[0]
    with pytest.raises(InvalidInputError, match="UTF-8"):
        load_corpus(path, strict=True)


def test_windows_line_endings(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(b"g\ts\t2012\t1\t4.0\tOne.\tTwo.\r\n")
    assert load_sts(path, strict=True).items == [StsPair("One.", "Two.", 4.0)]
