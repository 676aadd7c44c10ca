"""QA evaluation: retrieval metrics against gold passages, EM/F1 with gold passages and end to end,
and the reference case ranking."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.collection.search import Hit
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.eval.datasets import Query
from densekit.eval.metrics import mrr_at_k
from densekit.eval.qa import build_passage_collection, evaluate_qa, evaluate_retrieval, ranked_documents
from densekit.pipelines.reader import Answer
from densekit.testing.qa_reference import REFERENCE_QUESTIONS, reference_case, reference_contexts

PASSAGES = {
    "p1": "The capital of France is Paris.",
    "p2": "Dune was written by Frank Herbert.",
    "p3": "Koalas eat eucalyptus leaves.",
}
QUERIES = [
    Query("What is the capital of France?", ("p1",), ("Paris",)),
    Query("Who wrote Dune?", ("p2",), ("Frank Herbert", "Herbert")),
    Query("What do koalas eat?", ("p3",), ("eucalyptus leaves",)),
]


class FirstWordsReader:
    """Answers with the last two words of the passage (minus the full stop)."""

    def read(self, question, passages, no_answer_threshold=None):
        answers = []
        for passage in passages:
            text = " ".join(passage.text.rstrip(".").split()[-2:])
            start = passage.text.index(text)
            answers.append(Answer(text, 0.5, passage.id, start, start + len(text), passage.text, reader_score=0.5,
                                  passages=[passage.id]))
        return answers


@pytest.fixture
def collection(tmp_path):
    built = build_passage_collection(tmp_path / "c", PASSAGES, HashingEncoder(64))
    built.close()
    opened = Collection.open(tmp_path / "c", readonly=True)
    yield opened
    opened.close()


def test_retrieval_metrics_match_the_plain_functions(collection):
    recall, mrr = evaluate_retrieval(collection, QUERIES, ks=(1, 2, 3))
    expected = []
    for query in QUERIES:
        ranked = [hit.id for hit in collection.search(query.question, k=10)]
        expected.append(mrr_at_k(ranked, query.relevant, 10))
    assert mrr == pytest.approx(np.mean(expected))
    assert recall[3] == 1.0 and recall[1] <= recall[2] <= recall[3]
    sparse_recall, sparse_mrr = evaluate_retrieval(collection, QUERIES, ks=(1,), mode="sparse")
    assert sparse_recall[1] == 1.0 and sparse_mrr == 1.0  # each question shares words only with its passage


def test_ranked_documents_counts_chunks_as_their_parent():
    hits = [Hit("d1#0", 0.9, "x", parent="d1"), Hit("d2", 0.8, "y"), Hit("d1#1", 0.7, "z", parent="d1")]
    assert ranked_documents(hits) == ["d1", "d2"]


def test_reading_metrics(collection):
    progressed = []
    result = evaluate_qa(collection, QUERIES, PASSAGES, reader=FirstWordsReader(), ks=(1, 3), reader_k=1,
                         progress=lambda done, total: progressed.append((done, total)))
    # gold: "is Paris" (EM 0, F1 2/3), "Frank Herbert" (EM 1), "eucalyptus leaves" (EM 1)
    assert result.gold_exact_match == pytest.approx(2 / 3)
    assert result.gold_f1 == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert result.end_to_end_exact_match <= result.gold_exact_match
    assert progressed[-1] == (9, 9)
    data = result.as_dict()
    assert set(data["recall"]) == {"@1", "@3"} and data["questions"] == 3 and data["reader_passages"] == 1


def test_passages_default_to_the_collection(collection):
    result = evaluate_qa(collection, QUERIES, reader=FirstWordsReader(), ks=(1,))
    assert result.gold_exact_match == pytest.approx(2 / 3)


def test_bad_input(collection):
    with pytest.raises(InvalidInputError, match="no questions"):
        evaluate_qa(collection, [])
    with pytest.raises(InvalidInputError, match="no gold answers"):
        evaluate_qa(collection, [Query("q?", ("p1",))], PASSAGES, reader=FirstWordsReader())
    with pytest.raises(InvalidInputError, match="ks"):
        evaluate_retrieval(collection, QUERIES, ks=(0,))
    with pytest.raises(InvalidInputError, match="not among the passages"):
        evaluate_qa(collection, [Query("q?", ("zz",), ("a",))], PASSAGES, reader=FirstWordsReader())


class OracleDual(HashingEncoder):
    """Questions are embedded as their answer context: the ideal dual encoder for the reference case."""

    def encode_queries(self, texts):
        return self.encode([REFERENCE_QUESTIONS[text] for text in texts])


def test_reference_case():
    contexts = reference_contexts()
    assert len(contexts) == len(set(contexts)) and all(question in contexts for question in REFERENCE_QUESTIONS)
    symmetric = reference_case(HashingEncoder(256))
    assert [rank.copy_rank for rank in symmetric] == [1, 1, 1]  # the same text is the nearest vector
    assert not any(rank.answer_outranks_copy for rank in symmetric)
    ideal = reference_case(OracleDual(256))
    assert all(rank.answer_rank == 1 and rank.answer_outranks_copy for rank in ideal)
