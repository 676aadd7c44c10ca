"""The QA reference case: does a retriever rank a question's answer above a copy of the question?

Three questions, their answer contexts, the questions themselves as contexts and six distractors.
A symmetric sentence model tends to rank the copy of the question first; a question/passage
retriever (DPR-style, ``densekit train retriever``) should rank the answer first. Tests and the
retriever-training docs use it as a small, readable check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..encoders.base import Encoder

REFERENCE_QUESTIONS = {
    "What is the capital city of Australia?": "Canberra is the capital city of Australia.",
    "What is the best-selling sci-fi book?": "The best-selling sci-fi book is Dune.",
    "How many searches are performed on Google?": "Google serves more than 2 trillion queries annually.",
}
REFERENCE_DISTRACTORS = (
    "Sydney is the largest city in Australia.",
    "Melbourne is the second largest city in Australia.",
    "Frank Herbert wrote Dune, a science fiction novel, in 1965.",
    "Science fiction books are sold in many bookshops.",
    "Google was founded in 1998 by Larry Page and Sergey Brin.",
    "Search engines index billions of web pages.",
)


@dataclass(frozen=True)
class ReferenceRank:
    """Where one reference question's answer context and its own copy rank among the contexts (1 = top)."""

    question: str
    answer_rank: int
    copy_rank: int

    @property
    def answer_outranks_copy(self) -> bool:
        return self.answer_rank < self.copy_rank


def reference_contexts() -> list[str]:
    """The reference case's contexts: each question itself, each answer context and the distractors."""
    return list(REFERENCE_QUESTIONS) + list(REFERENCE_QUESTIONS.values()) + list(REFERENCE_DISTRACTORS)


def reference_case(encoder: Encoder) -> list[ReferenceRank]:
    """Rank the reference contexts for each reference question with ``encoder``.

    A dual encoder embeds the contexts with its context side and the questions with its question
    side (``encode_queries``); a symmetric model uses ``encode`` for both, and tends to put the
    copy of the question first.

    Example:
        >>> [rank.answer_outranks_copy for rank in reference_case(load_encoder("all-MiniLM-L6-v2"))]
        [False, False, False]
    """
    contexts = reference_contexts()
    context_vectors = encoder.encode_items(contexts)
    question_vectors = encoder.encode_queries(list(REFERENCE_QUESTIONS))
    scores = question_vectors @ context_vectors.T
    ranks = []
    for row, (question, answer) in enumerate(REFERENCE_QUESTIONS.items()):
        order = list(np.argsort(-scores[row], kind="stable"))
        ranks.append(ReferenceRank(question, order.index(contexts.index(answer)) + 1, order.index(contexts.index(question)) + 1))
    return ranks
