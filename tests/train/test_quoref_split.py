"""The Quoref split: by passage, deterministic, order-independent, and never overlapping."""

from __future__ import annotations

import json

import pytest

from densekit.errors import InvalidInputError
from densekit.train.quoref_split import QuorefData, is_test_passage, load_quoref, split_quoref, write_split


def test_real_quoref_split_is_disjoint_and_complete(shared_data):
    data = load_quoref(shared_data / "quoref")
    train, test = split_quoref(data, "train"), split_quoref(data, "test")
    assert not set(train.passages) & set(test.passages)
    assert len(train.passages) + len(test.passages) == len(data.passages) == 1471
    assert len(train.questions) + len(test.questions) == len(data.questions) == 3302
    assert all(question["passage_id"] in test.passages for question in test.questions)
    assert 0.15 < len(test.passages) / len(data.passages) < 0.25
    assert split_quoref(data, "all") is data


def test_split_does_not_depend_on_order():
    passages = {f"p{number}": f"text {number}" for number in range(200)}
    questions = [{"question": f"q{number}", "answers": ["x"], "passage_id": f"p{number % 200}"} for number in range(400)]
    forward = split_quoref(QuorefData(passages, questions), "test")
    backward = split_quoref(QuorefData(dict(reversed(passages.items())), questions[::-1]), "test")
    assert set(forward.passages) == set(backward.passages)
    assert set(split_quoref(QuorefData(passages, questions), "test", seed="other").passages) != set(forward.passages)


def test_bad_arguments(shared_data, tmp_path):
    data = QuorefData({"a": "x"}, [])
    with pytest.raises(InvalidInputError, match="valid: train, test, all"):
        split_quoref(data, "dev")
    with pytest.raises(InvalidInputError, match="test_fraction"):
        split_quoref(data, "test", test_fraction=1.0)
    with pytest.raises(InvalidInputError, match="not a Quoref-layout folder"):
        load_quoref(tmp_path)
    (tmp_path / "passages.jsonl").write_text('{"id": "a", "text": "x"}\n')
    (tmp_path / "questions.jsonl").write_text('{"question": "q", "answers": ["x"], "passage_id": "zz"}\n')
    with pytest.raises(InvalidInputError, match="'zz' is not in passages.jsonl"):
        load_quoref(tmp_path)


def test_write_split_round_trips(shared_data, tmp_path):
    written = write_split(shared_data / "quoref", tmp_path / "split")
    test = load_quoref(written["test"])
    train = load_quoref(written["train"])
    assert all(is_test_passage(pid) for pid in test.passages)
    assert not any(is_test_passage(pid) for pid in train.passages)
    first = json.loads((written["test"] / "questions.jsonl").read_text().splitlines()[0])
    assert set(first) == {"question", "answers", "passage_id"}
