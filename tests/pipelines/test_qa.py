"""ask(): retrieval then reading, the combined score, aggregation across passages, space choice."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.pipelines.qa import aggregate, ask, default_space, passage_probabilities
from densekit.pipelines.reader import Answer, Passage, Reader

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

PASSAGES = {
    "france": "The capital of France is Paris. It is known for the Eiffel Tower.",
    "paris": "Paris is the capital of France and its largest city.",
    "spain": "The capital of Spain is Madrid.",
    "dune": "The best-selling sci-fi book is Dune.",
}


class WordReader:
    """A stand-in reader: the answer is the first passage word found in ``self.words``."""

    def __init__(self, words: dict[str, float]):
        self.words = words
        self.calls = []

    def read(self, question, passages, no_answer_threshold=None):
        self.calls.append((question, [passage.id for passage in passages], no_answer_threshold))
        answers = []
        for passage in passages:
            found = next((word for word in self.words if word in passage.text), None)
            if found is None:
                answers.append(None)
                continue
            start = passage.text.index(found)
            answers.append(Answer(found, self.words[found], passage.id, start, start + len(found), passage.text,
                                  reader_score=self.words[found], retriever_score=passage.retriever_score,
                                  passages=[passage.id]))
        return answers


class FakeDual(HashingEncoder):
    """A hashing encoder posing as a dual encoder: questions get a different vector than contexts."""

    backend = "st-dual"

    def encode_queries(self, texts):
        return self.encode(["question " + text for text in texts])


@pytest.fixture
def collection(tmp_path):
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(64), index="exact") as created:
        created.add(list(PASSAGES.values()), ids=list(PASSAGES))
    opened = Collection.open(tmp_path / "c", readonly=True)
    yield opened
    opened.close()


def test_answers_are_merged_across_passages_and_scored_as_probabilities(collection):
    reader = WordReader({"Paris": 0.8, "Madrid": 0.9})
    answers = ask(collection, "What is the capital of France?", k=4, answers=3, reader=reader)
    by_text = {answer.text: answer for answer in answers}
    assert set(by_text) == {"Paris", "Madrid"}
    hits = collection.search("What is the capital of France?", k=4)
    weights = dict(zip([hit.id for hit in hits], passage_probabilities([hit.score for hit in hits], 20.0)))
    paris = by_text["Paris"]
    assert sorted(paris.passages) == ["france", "paris"]
    assert paris.score == pytest.approx(0.8 * (weights["france"] + weights["paris"]))
    assert by_text["Madrid"].score == pytest.approx(0.9 * weights["spain"])
    assert [answer.score for answer in answers] == sorted((answer.score for answer in answers), reverse=True)
    for answer in answers:
        assert answer.passage[answer.start : answer.end] == answer.text
        assert answer.passage == PASSAGES[answer.passage_id]
    assert 0.0 < sum(answer.score for answer in answers) <= 1.0 + 1e-9


def test_answers_limit_threshold_and_retriever_weight(collection):
    reader = WordReader({"Paris": 0.8, "Madrid": 0.9})
    assert len(ask(collection, "capital?", k=4, answers=1, reader=reader)) == 1
    ask(collection, "capital?", k=2, reader=reader, no_answer_threshold=1.5)
    assert reader.calls[-1][2] == 1.5 and len(reader.calls[-1][1]) == 2
    reader_only = ask(collection, "capital?", k=4, answers=2, reader=reader, retriever_weight=0.0)
    assert reader_only[0].text == "Paris" and reader_only[0].score == pytest.approx(1.6)


def test_no_passages_or_no_spans_give_no_answers(collection):
    assert ask(collection, "anything?", k=3, reader=WordReader({})) == []
    with pytest.raises(InvalidInputError, match="k must be"):
        ask(collection, "q?", k=0, reader=WordReader({}))
    with pytest.raises(InvalidInputError, match="retriever_weight"):
        ask(collection, "q?", reader=WordReader({}), retriever_weight=-1)


def test_sparse_and_hybrid_retrieval(collection):
    reader = WordReader({"Dune": 0.5})
    assert ask(collection, "best-selling sci-fi book", k=1, mode="sparse", reader=reader)[0].passage_id == "dune"
    assert ask(collection, "best-selling sci-fi book", k=2, mode="hybrid", reader=reader)[0].text == "Dune"


def test_the_dual_space_is_the_default(tmp_path):
    with Collection.create(tmp_path / "c", encoder=HashingEncoder(32), index="exact") as created:
        created.add(list(PASSAGES.values()), ids=list(PASSAGES))
        created.add_space("dpr", FakeDual(16))
        assert default_space(created) == "dpr"
        reader = WordReader({"Paris": 0.8})
        ask(created, "capital of France?", k=2, reader=reader)
        expected = [hit.id for hit in created.search("capital of France?", k=2, space="dpr")]
        assert reader.calls[-1][1] == expected
        assert default_space(created) != "text"


def test_aggregate_keeps_the_best_passage():
    first = Answer("the Paris", 0.3, "a", 0, 9, "the Paris x", passages=["a"])
    second = Answer("Paris", 0.5, "b", 0, 5, "Paris y", passages=["b"])
    merged = aggregate([first, second], answers=5)
    assert len(merged) == 1 and merged[0].passage_id == "b" and merged[0].score == pytest.approx(0.8)
    assert merged[0].passages == ["b", "a"]


def test_passage_probabilities():
    assert passage_probabilities([], 20.0).size == 0
    np.testing.assert_allclose(passage_probabilities([1.0, 1.0], 1.0), [0.5, 0.5])
    assert passage_probabilities([80.0, 70.0], 1.0)[0] > 0.99


def test_with_a_real_tiny_reader(collection, tmp_path, minilm_path):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    BertForQuestionAnswering(BertConfig(vocab_size=30522, **tiny.SMALL)).save_pretrained(str(tmp_path / "qa"))
    tiny.save_tokenizer(minilm_path, tmp_path / "qa")
    answers = ask(collection, "What is the capital of France?", k=3, answers=2, reader=str(tmp_path / "qa"))
    assert 1 <= len(answers) <= 2
    for answer in answers:
        assert PASSAGES[answer.passage_id][answer.start : answer.end] == answer.text
    assert isinstance(Reader(str(tmp_path / "qa")).read("q?", [Passage("x", "y z")])[0], Answer)
