"""Open-domain QA evaluation: retrieval (recall@k, MRR@10 against the gold passage) and reading
(SQuAD exact match and token F1), both with the gold passage given and end to end through ``ask``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..progress import ProgressCallback, report
from .datasets import Query
from .metrics import exact_match, mrr_at_k, recall_at_k, token_f1

DEFAULT_KS = (1, 5, 20, 100)
MRR_DEPTH = 10


@dataclass
class QaEvaluation:
    """Averages over the evaluated questions (metrics in [0, 1]; None where not measured)."""

    questions: int
    recall: dict[int, float] = field(default_factory=dict)
    mrr_at_10: float | None = None
    gold_exact_match: float | None = None
    gold_f1: float | None = None
    end_to_end_exact_match: float | None = None
    end_to_end_f1: float | None = None
    reader_passages: int | None = None
    seconds: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["recall"] = {f"@{k}": round(value, 4) for k, value in self.recall.items()}
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 4)
        return data


def ranked_documents(hits: Sequence[Any]) -> list[str]:
    """Document ids in rank order: a chunk counts as its parent; each document once, at its best rank."""
    return list(dict.fromkeys(hit.parent or hit.id for hit in hits))


def evaluate_retrieval(
    collection: Any,
    queries: Sequence[Query],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    space: str | None = None,
    mode: str = "dense",
    progress: ProgressCallback | None = None,
) -> tuple[dict[int, float], float]:
    """Mean recall@k for each k and MRR@10 of the gold passage(s).

    Example:
        >>> recall, mrr = evaluate_retrieval(collection, queries, ks=(1, 20))
    """
    from ..pipelines.qa import default_space

    if not queries:
        raise InvalidInputError("no questions to evaluate")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InvalidInputError(f"ks must be positive integers, got {ks!r}")
    depth = max(max(ks), MRR_DEPTH)
    space = space or default_space(collection)
    recalls: dict[int, list[float]] = {k: [] for k in ks}
    reciprocal_ranks = []
    report(progress, 0, len(queries))
    for done, query in enumerate(queries, start=1):
        ranked = ranked_documents(collection.search(query.question, k=depth, space=space, mode=mode))
        for k in ks:
            recalls[k].append(recall_at_k(ranked, query.relevant, k))
        reciprocal_ranks.append(mrr_at_k(ranked, query.relevant, MRR_DEPTH))
        report(progress, done, len(queries))
    return {k: float(np.mean(values)) for k, values in recalls.items()}, float(np.mean(reciprocal_ranks))


def evaluate_reader_gold(
    reader: Any, queries: Sequence[Query], passages: dict[str, str], progress: ProgressCallback | None = None
) -> tuple[float, float]:
    """Mean EM and F1 when the reader is given the gold passage (an answer-less result scores 0)."""
    from ..pipelines.reader import Passage

    matches, f1s = [], []
    report(progress, 0, len(queries))
    for done, query in enumerate(queries, start=1):
        gold = [Passage(pid, passages[pid]) for pid in query.relevant if pid in passages]
        if not gold:
            raise InvalidInputError(f"gold passage {query.relevant[0]!r} of {query.question!r} is not among the passages")
        read = [answer for answer in reader.read(query.question, gold) if answer is not None]
        text = max(read, key=lambda answer: answer.score).text if read else ""
        matches.append(exact_match(text, query.answers))
        f1s.append(token_f1(text, query.answers))
        report(progress, done, len(queries))
    return float(np.mean(matches)), float(np.mean(f1s))


def evaluate_end_to_end(
    collection: Any,
    reader: Any,
    queries: Sequence[Query],
    *,
    k: int = 5,
    space: str | None = None,
    mode: str = "dense",
    progress: ProgressCallback | None = None,
) -> tuple[float, float]:
    """Mean EM and F1 of ``ask``'s top answer over the whole collection."""
    from ..pipelines.qa import ask

    matches, f1s = [], []
    report(progress, 0, len(queries))
    for done, query in enumerate(queries, start=1):
        found = ask(collection, query.question, k=k, answers=1, reader=reader, space=space, mode=mode)
        text = found[0].text if found else ""
        matches.append(exact_match(text, query.answers))
        f1s.append(token_f1(text, query.answers))
        report(progress, done, len(queries))
    return float(np.mean(matches)), float(np.mean(f1s))


def evaluate_qa(
    collection: Any,
    queries: Sequence[Query],
    passages: dict[str, str] | None = None,
    *,
    reader: Any = None,
    ks: Sequence[int] = DEFAULT_KS,
    reader_k: int = 5,
    space: str | None = None,
    mode: str = "dense",
    progress: ProgressCallback | None = None,
) -> QaEvaluation:
    """Retrieval metrics, and with a reader, EM/F1 with the gold passage and end to end.

    Args:
        collection: an open collection whose item ids (or chunk parents) are the passage ids.
        queries: questions with ``relevant`` passage ids and gold ``answers``.
        passages: passage id -> text, for the gold-passage reading (default: read from the collection).
        reader: a ``Reader`` (None: retrieval only).
        ks: recall cut-offs.
        reader_k: passages ``ask`` reads per question end to end.
        space, mode: retrieval space and mode (mode "sparse" is plain BM25).
        progress: ``progress(done, total)`` over all steps (questions x stages).

    Example:
        >>> evaluate_qa(collection, load_queries("questions.jsonl").items, reader=Reader("/tmp/reader")).as_dict()
    """
    queries = list(queries)
    if not queries:
        raise InvalidInputError("no questions to evaluate")
    stages = 3 if reader is not None else 1
    total = len(queries) * stages

    def stage(offset: int) -> ProgressCallback | None:
        return None if progress is None else (lambda done, _: progress(offset + done, total))

    started = time.perf_counter()
    recall, mrr = evaluate_retrieval(collection, queries, ks=ks, space=space, mode=mode, progress=stage(0))
    result = QaEvaluation(len(queries), recall, mrr, settings={"space": space, "mode": mode, "ks": list(ks)})
    if reader is not None:
        if answerless := [query.question for query in queries if not query.answers]:
            raise InvalidInputError(f"question {answerless[0]!r} has no gold answers; reading needs them")
        if passages is None:
            passages = {}
            for query in queries:
                for pid in query.relevant:
                    item = collection.get(pid)
                    if item is not None:
                        passages[pid] = item.text
        result.gold_exact_match, result.gold_f1 = evaluate_reader_gold(reader, queries, passages, stage(len(queries)))
        result.end_to_end_exact_match, result.end_to_end_f1 = evaluate_end_to_end(
            collection, reader, queries, k=reader_k, space=space, mode=mode, progress=stage(2 * len(queries))
        )
        result.reader_passages = reader_k
    result.seconds = round(time.perf_counter() - started, 2)
    return result


def build_passage_collection(
    folder: str | Path, passages: dict[str, str], encoder: Any, progress: ProgressCallback | None = None
) -> Any:
    """A new collection at ``folder`` holding each passage under its own id (opened for writing, committed)."""
    from ..collection import Collection

    collection = Collection.create(folder, encoder=encoder, index="exact")
    try:
        ids = list(passages)
        collection.add([passages[pid] for pid in ids], ids=ids, progress=progress)
        collection.commit()
    except BaseException:
        collection.close()
        raise
    return collection
