"""Open-domain question answering: retrieve passages from a collection, read answer spans, rank them.

The retriever is the collection's search (for a DPR space, the question encoder embeds the query
and the context vectors are searched); the reader extracts the best span from each passage. An
answer's score is a probability: P(passage) from a softmax over the retrieved passages' scores
times P(span | passage) from the reader, summed over passages that give the same (normalised)
answer, so agreement between passages raises it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from .reader import DEFAULT_READER, Answer, Passage, Reader

if TYPE_CHECKING:
    from ..loaded_models import Models

READER_ENVIRONMENT = "DENSEKIT_READER"
# Cosine scores live in [-1, 1]: multiply before the softmax so the retriever's preference shows
# (the trained retriever used the same scale in its loss). Raw inner products (DPR) need none.
COSINE_TEMPERATURE = 20.0


def default_reader_reference() -> str:
    """``DENSEKIT_READER`` if set, else the reader the missing-reader message says to train (in the
    densekit cache as densekit-quoref-reader) when it is there, else distilbert-base-cased-distilled-squad."""
    from ..missing_models import TRAINED_READER
    from ..models import cache_folder

    if os.environ.get(READER_ENVIRONMENT):
        return os.environ[READER_ENVIRONMENT]
    return TRAINED_READER if cache_folder(TRAINED_READER).is_dir() else DEFAULT_READER


def load_reader(reference: str | None = None, models: "Models | None" = None) -> Reader:
    """The shared Reader for a model reference, owned by ``models`` (default: the library's
    ``default_models()``; the server passes its own)."""
    from ..loaded_models import default_models

    return (models if models is not None else default_models()).reader(reference)


def default_space(collection: Any) -> str:
    """The collection's question/passage (two-tower) space if it has one (DPR-style retrieval), else "text"."""
    from ..encoders.registry import BACKENDS

    for name, space in collection.spaces.items():
        entry = BACKENDS.get(space.encoder_info.get("backend", ""))
        if entry is not None and entry.sides == "question-passage":
            return name
    return "text" if "text" in collection.spaces else next(iter(collection.spaces))


def passage_probabilities(scores: list[float], temperature: float) -> np.ndarray:
    """Softmax of retriever scores times ``temperature`` (1.0 for raw inner products).

    Example:
        >>> passage_probabilities([0.9, 0.1], 20.0).round(4)
        array([1., 0.])
    """
    values = np.asarray(scores, dtype=np.float64) * temperature
    if values.size == 0:
        return values
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def aggregate(candidates: list[Answer], answers: int) -> list[Answer]:
    """Merge answers with the same normalised text (scores summed; the best passage kept), best first."""
    from ..eval.metrics import normalize_answer

    merged: dict[str, Answer] = {}
    for answer in sorted(candidates, key=lambda candidate: -candidate.score):
        key = normalize_answer(answer.text) or answer.text
        kept = merged.get(key)
        if kept is None:
            merged[key] = answer
            continue
        kept.score += answer.score
        kept.passages.append(answer.passage_id)
    return sorted(merged.values(), key=lambda answer: -answer.score)[:answers]


def ask(
    collection: Any,
    question: str,
    *,
    k: int = 10,
    answers: int = 1,
    reader: Reader | str | None = None,
    space: str | None = None,
    mode: str = "dense",
    where: dict[str, Any] | None = None,
    no_answer_threshold: float | None = None,
    retriever_weight: float = 1.0,
    models: "Models | None" = None,
) -> list[Answer]:
    """Answer a question from a collection's passages.

    Args:
        collection: an open ``Collection``.
        question: the question text.
        k: passages to retrieve and read.
        answers: how many distinct answers to return.
        reader: a ``Reader`` or a model reference (default: ``DENSEKIT_READER``, else
            distilbert-base-cased-distilled-squad).
        space: the vector space to search (default: the dual-encoder space if any, else "text").
        mode: "dense", "sparse" or "hybrid" retrieval.
        where: metadata filter for the retrieval.
        no_answer_threshold: see ``Reader.read``; passages whose best span does not beat "no
            answer" by this margin give no answer (so the result may be empty).
        retriever_weight: exponent on P(passage); 0 ranks by the reader alone.
        models: who owns a reader named by reference (default: the library's ``default_models()``).

    Returns:
        Up to ``answers`` Answers, best first.

    Example:
        >>> with Collection.open("wiki", readonly=True) as wiki:
        ...     ask(wiki, "What is the capital of France?", reader="/tmp/densekit-qa/reader")[0].text
        'Paris'
    """
    from ..collection.search import check_k

    check_k(k)
    check_k(answers)
    if retriever_weight < 0:
        raise InvalidInputError(f"retriever_weight must be >= 0, got {retriever_weight!r}")
    space = space or default_space(collection)
    if isinstance(reader, str) or reader is None:
        reader = load_reader(reader or default_reader_reference(), models)
    hits = collection.search(question, k=k, space=space, mode=mode, where=where)
    hits = [hit for hit in hits if hit.text]
    if not hits:
        return []
    normalized = bool(collection.spaces[space].encoder_info.get("normalized", True)) if mode == "dense" else True
    temperature = COSINE_TEMPERATURE if normalized and mode == "dense" else 1.0
    if mode == "hybrid":  # fused scores are rank-based and tiny: compare by rank instead
        weights = passage_probabilities([-float(rank) for rank in range(len(hits))], 1.0)
    else:
        weights = passage_probabilities([hit.score for hit in hits], temperature)
    passages = [Passage(hit.id, hit.text, float(hit.score), hit.parent, hit.start) for hit in hits]
    read = reader.read(question, passages, no_answer_threshold=no_answer_threshold)
    candidates = []
    for answer, weight in zip(read, weights):
        if answer is None:
            continue
        answer.score = float(weight**retriever_weight * answer.reader_score)
        candidates.append(answer)
    return aggregate(candidates, answers)
