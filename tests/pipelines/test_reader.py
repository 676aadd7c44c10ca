"""The extractive reader: windows with stride, span rules, no-answer threshold. A tiny QA model
built at test time is loaded through the real code path; where a test needs known logits, the
model call is replaced by one that points at a chosen word."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.reader import Passage, Reader

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture(scope="module")
def qa_folder(tmp_path_factory, minilm_path):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    folder = tmp_path_factory.mktemp("qa")
    torch.manual_seed(0)
    BertForQuestionAnswering(BertConfig(vocab_size=30522, **tiny.SMALL)).save_pretrained(str(folder))
    tiny.save_tokenizer(minilm_path, folder)
    return folder


@pytest.fixture
def reader(qa_folder):
    return Reader(str(qa_folder), max_length=64, stride=16, max_answer_length=5)


def point_at(reader: Reader, word: str, end_word: str | None = None, null: float = 0.0):
    """Replace the model call: start logit 10 on ``word``, end logit 10 on ``end_word`` (default the same)."""
    start_id = reader.tokenizer.convert_tokens_to_ids(word)
    end_id = reader.tokenizer.convert_tokens_to_ids(end_word or word)

    def logits(encoded):
        ids = np.asarray(encoded["input_ids"])
        start = np.where(ids == start_id, 10.0, 0.0)
        end = np.where(ids == end_id, 10.0, 0.0)
        start[:, 0] = end[:, 0] = null  # [CLS]
        return start, end

    reader._logits = logits


def test_spans_are_exact_substrings_of_their_passage(reader):
    passages = ["The capital of France is Paris.", "Dune was written by Frank Herbert in 1965."]
    answers = reader.read("Who wrote it?", passages)
    assert len(answers) == 2
    for answer, passage in zip(answers, passages):
        assert answer is not None and passage[answer.start : answer.end] == answer.text == answer.passage[answer.start : answer.end]
        assert 0.0 <= answer.reader_score <= 1.0
        assert len(reader.tokenizer.tokenize(answer.text)) <= reader.max_answer_length


def test_an_answer_at_a_window_boundary_is_found(reader):
    point_at(reader, "london")
    for position in range(30, 60, 3):  # walk the answer across the first window edges
        words = [f"w{number}" for number in range(90)]
        words[position] = "London"
        text = " ".join(words)
        answer = reader.read("where?", [Passage("p", text)])[0]
        assert answer.text == "London" and text[answer.start : answer.end] == "London"
    assert len(reader._windows("where?", [text])["input_ids"]) > 1


def test_never_answers_from_the_question(reader):
    point_at(reader, "london")
    answer = reader.read("is it london?", ["nothing to see here at all."])[0]
    assert answer is not None and "london" not in answer.text.lower()


def test_spans_longer_than_the_limit_are_refused(reader):
    point_at(reader, "alpha", "omega")
    answer = reader.read("q?", ["alpha b c d e omega . alpha omega"])[0]
    assert answer.text == "alpha omega"  # not the 6-token span: the limit is 5
    reader.max_answer_length = 6
    point_at(reader, "alpha", "omega")
    assert reader.read("q?", ["alpha b c d e omega ."])[0].text == "alpha b c d e omega"


def test_no_answer_threshold(reader):
    point_at(reader, "paris", null=12.5)  # "no answer" (12.5 + 12.5) beats the span (10 + 10) by 5
    passage = "The capital of France is Paris."
    kept = reader.read("q?", [passage])[0]
    assert kept.text == "Paris" and kept.no_answer_margin == pytest.approx(-5.0)
    assert reader.read("q?", [passage], no_answer_threshold=0.0) == [None]
    assert reader.read("q?", [passage], no_answer_threshold=-6.0)[0].text == "Paris"


def test_passage_metadata_is_carried(reader):
    answer = reader.read("q?", [Passage("doc-1#3", "Paris is nice.", retriever_score=0.7, parent="doc-1", offset=40)])[0]
    assert answer.passage_id == "doc-1#3" and answer.retriever_score == 0.7 and answer.parent == "doc-1"
    data = answer.as_dict()
    assert data["passage_id"] == "doc-1#3" and data["parent"] == "doc-1" and data["passage"] == "Paris is nice."


def test_bad_input(reader, qa_folder):
    assert reader.read("q?", []) == []
    with pytest.raises(InvalidInputError, match="question"):
        reader.read(" ", ["x"])
    with pytest.raises(InvalidInputError, match="passage 1"):
        reader.read("q?", ["x", " "])
    with pytest.raises(InvalidInputError, match="stride"):
        Reader(str(qa_folder), max_length=64, stride=40)
    with pytest.raises(InvalidInputError, match="max_answer_length"):
        Reader(str(qa_folder), max_answer_length=0)


def test_sentence_ends_skip_initials_abbreviations_and_lower_case_continuations():
    from densekit.pipelines.reader import sentence_ends

    text = "Dr. J. R. Smith met Mr. Brown in St. Louis. They left at 5 p.m. and Vol. 3 came out. 1999 was next."
    assert [text[: position + 1].rsplit(None, 1)[-1] for position in sentence_ends(text)] == ["Louis.", "out."]
    assert sentence_ends("Is it Paris? Yes! It is.") == [11, 16]


def test_spans_stay_within_one_sentence(qa_folder):
    """A span from 'paris' to 'tower' crosses a sentence end: refused by default (the best span
    inside one sentence wins), allowed with within_sentence=False."""
    passage = "The capital of France is paris. It is known for the eiffel tower."
    within = Reader(str(qa_folder), max_length=64, stride=16, max_answer_length=12)
    point_at(within, "paris", "tower")
    assert within.read("What is the capital?", [passage])[0].text == "paris"
    crossing = Reader(str(qa_folder), max_length=64, stride=16, max_answer_length=12, within_sentence=False)
    point_at(crossing, "paris", "tower")
    assert crossing.read("What is the capital?", [passage])[0].text == "paris. It is known for the eiffel tower"
