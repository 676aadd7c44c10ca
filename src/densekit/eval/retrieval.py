"""Retrieval evaluation: index a corpus in a real Collection, run every query per search mode, score it.

The runner measures what a user of ``collection.search`` gets: each query goes through the public
search call (query encoding, index search, fusion, optional rerank), so the figures include every
step a real query pays for. Passages are split as ``densekit index`` splits them (``indexing``), and
relevance is per passage: a passage is found at the rank of its best chunk. The runner dedupes hits
by parent and asks for deeper hit lists until it has enough distinct passages (or the collection
has no more).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..progress import ProgressCallback, report
from .datasets import Document, Query
from .indexing import DEFAULT_BUILD_BATCH, BuildReport, build_collection, open_collection  # noqa: F401 (re-exported)
from .metrics import mrr_at_k, ndcg_at_k, recall_at_k
from .passages import ChunkSettings

#: The search modes a run may ask for (the same as ``collection.search``'s ``mode``).
MODES = ("dense", "sparse", "hybrid")
DEFAULT_K_VALUES = (1, 5, 10, 20, 100)
#: MRR and nDCG are reported at this cut-off (the MS MARCO / BEIR convention).
RANK_CUTOFF = 10


def parse_modes(modes: str | Sequence[str]) -> list[str]:
    """Check and normalise a mode list; a string is split on commas.

    Example:
        >>> parse_modes("dense, hybrid")
        ['dense', 'hybrid']
    """
    items = modes.split(",") if isinstance(modes, str) else list(modes)
    cleaned = [str(mode).strip().lower() for mode in items if str(mode).strip()]
    if not cleaned:
        raise InvalidInputError(f"no search mode given ({modes!r}); valid: {', '.join(MODES)}")
    for mode in cleaned:
        if mode not in MODES:
            raise InvalidInputError(f"unknown search mode {mode!r}; valid: {', '.join(MODES)}")
    return list(dict.fromkeys(cleaned))  # keep order, drop repeats


def check_k_values(k_values: Sequence[int]) -> list[int]:
    """Sorted distinct cut-offs, each a positive integer.

    Example:
        >>> check_k_values([10, 1, 5])
        [1, 5, 10]
    """
    values = list(k_values)
    if not values:
        raise InvalidInputError("k_values must hold at least one cut-off, e.g. (1, 5, 10)")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidInputError(f"every k must be a positive integer, got {value!r} in {tuple(values)!r}")
    return sorted({int(value) for value in values})


@dataclass
class QueryCheck:
    """Queries that can be scored, and a description of each one that cannot (or only partly)."""

    usable: list[Query] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _is_indexed(collection: Any, id_: str) -> bool:
    # A passage is in the collection whole (its own id) or as chunks named as ingest names them.
    return collection.get(id_) is not None or collection.get(f"{id_}#0") is not None


def check_queries(collection: Any, queries: Sequence[Query]) -> QueryCheck:
    """Split queries by whether their relevant ids exist in the collection (whole or as chunks ``ID#N``).

    A query with no relevant id in the collection can never be answered: it is reported and left
    out (it would only drag every mode to 0 alike). A query with some ids missing is kept (the
    missing ones count as not found, as in the qrels) and reported.

    Example:
        >>> check_queries(collection, [Query("who?", ("absent",))]).problems
        ["query 1 of 1 ('who?'): none of its relevant ids is in the corpus ('absent'); skipped"]
    """
    known: dict[str, bool] = {}
    checked = QueryCheck()
    for number, query in enumerate(queries, start=1):
        for id_ in query.relevant:
            if id_ not in known:
                known[id_] = _is_indexed(collection, id_)
        absent = [id_ for id_ in query.relevant if not known[id_]]
        label = f"query {number} of {len(queries)} ({query.question[:60]!r})"
        shown = ", ".join(repr(id_) for id_ in absent[:5])
        if len(absent) == len(query.relevant):
            checked.problems.append(f"{label}: none of its relevant ids is in the corpus ({shown}); skipped")
            continue
        if absent:
            checked.problems.append(f"{label}: relevant ids not in the corpus ({shown}); they count as misses")
        checked.usable.append(query)
    return checked


def ranked_passages(collection: Any, question: str, depth: int, mode: str, **search_options: Any) -> list[str]:
    """The first ``depth`` distinct passages for a question, each at the rank of its best hit.

    Asks the collection for one hit per document (``group="parent"``: a chunk stands for its
    parent, a whole passage for itself), which searches deeper until ``depth`` documents are found.
    Hits are deduplicated here too, and a hit list that comes back full but short of ``depth``
    passages is asked for again with twice the hits, so a search that returns chunks is scored the
    same way.

    Example:
        >>> ranked_passages(collection, "Who conducted the Boston Symphony?", 10, "hybrid")[:2]
        ['d7a264271662', '9821bc1796c7']
    """
    asked = depth
    while True:
        hits = collection.search(question, k=asked, mode=mode, group="parent", **search_options)
        passages = list(dict.fromkeys(getattr(hit, "parent", None) or hit.id for hit in hits))
        if len(passages) >= depth or len(hits) < asked:
            return passages[:depth]
        asked *= 2


def score_ranking(ranked_ids: Sequence[str], relevant: Sequence[str], k_values: Sequence[int]) -> dict[str, float]:
    """Every metric of one query: recall@k for each k, MRR@10 and nDCG@10.

    Example:
        >>> score_ranking(["b", "a"], ["a"], [1, 2])
        {'recall@1': 0.0, 'recall@2': 1.0, 'mrr@10': 0.5, 'ndcg@10': 0.6309297535714575}
    """
    scores = {f"recall@{k}": recall_at_k(ranked_ids, relevant, k) for k in k_values}
    scores[f"mrr@{RANK_CUTOFF}"] = mrr_at_k(ranked_ids, relevant, RANK_CUTOFF)
    scores[f"ndcg@{RANK_CUTOFF}"] = ndcg_at_k(ranked_ids, relevant, RANK_CUTOFF)
    return scores


def evaluate_retrieval(
    collection: Any,
    queries: Sequence[Query],
    modes: str | Sequence[str] = MODES,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    progress: ProgressCallback | None = None,
    **search_options: Any,
) -> dict[str, Any]:
    """Run every query in every mode through ``collection.search`` and average the metrics.

    Args:
        collection: an open Collection holding the corpus: items whose id, or whose ``parent`` (chunks),
            is a query's relevant id.
        queries: Query items, e.g. ``load_queries(path).items``.
        modes: "dense", "sparse", "hybrid" (a list, or a comma-separated string).
        k_values: recall cut-offs; each query retrieves max(max(k_values), 10) distinct passages.
        progress: ``progress(done, total)`` over query x mode searches.
        search_options: passed to every search, e.g. ``alpha=0.5`` (hybrid weighted fusion),
            ``rrf_k=60``, ``candidates=200``, ``rerank="cross-encoder/..."``, ``where={...}``.
    Returns:
        {"queries": scored count, "depth", "k_values", "search_options", "problems": [...],
         "modes": {mode: {"recall@K"..., "mrr@10", "ndcg@10", "queries_per_second", "search_seconds"}},
         "per_query": {mode: [first relevant passage's rank or None, ...]}}.

    Example:
        >>> result = evaluate_retrieval(collection, load_queries("questions.jsonl").items, ["dense", "sparse"])
        >>> result["modes"]["dense"]["mrr@10"]
        0.52
    """
    chosen = parse_modes(modes)
    cutoffs = check_k_values(k_values)
    if "k" in search_options or "mode" in search_options or "group" in search_options:
        raise InvalidInputError("pass modes and k_values, not 'mode', 'k' or 'group', to evaluate_retrieval")
    depth = max(cutoffs[-1], RANK_CUTOFF)
    checked = check_queries(collection, queries)
    if not checked.usable:
        raise InvalidInputError(
            f"no query can be scored: {len(queries)} given, none has a relevant id in the collection"
        )
    total = len(checked.usable) * len(chosen)
    done = 0
    report(progress, done, total)
    results: dict[str, dict[str, float]] = {}
    ranks: dict[str, list[int | None]] = {}
    for mode in chosen:
        rows: list[dict[str, float]] = []
        ranks[mode] = []
        seconds = 0.0
        for query in checked.usable:
            started = time.perf_counter()
            ranked = ranked_passages(collection, query.question, depth, mode, **search_options)
            seconds += time.perf_counter() - started
            rows.append(score_ranking(ranked, query.relevant, cutoffs))
            wanted = set(query.relevant)
            ranks[mode].append(next((rank for rank, id_ in enumerate(ranked, 1) if id_ in wanted), None))
            done += 1
            report(progress, done, total)
        averaged = {name: float(np.mean([row[name] for row in rows])) for name in rows[0]}
        averaged["queries_per_second"] = len(rows) / seconds if seconds > 0 else float("inf")
        averaged["search_seconds"] = seconds
        results[mode] = averaged
    return {
        "queries": len(checked.usable),
        "depth": depth,
        "k_values": cutoffs,
        "search_options": {name: value for name, value in search_options.items() if value is not None},
        "problems": checked.problems,
        "modes": results,
        "per_query": ranks,
    }


def metric_columns(k_values: Sequence[int]) -> list[str]:
    """Column names of a result table, in display order.

    Example:
        >>> metric_columns([1, 5])
        ['recall@1', 'recall@5', 'mrr@10', 'ndcg@10', 'queries_per_second']
    """
    return [f"recall@{k}" for k in k_values] + [f"mrr@{RANK_CUTOFF}", f"ndcg@{RANK_CUTOFF}", "queries_per_second"]


def format_table(result: dict[str, Any], labels: dict[str, str] | None = None) -> str:
    """A plain-text table of an ``evaluate_retrieval`` result: one row per mode.

    Example:
        >>> print(format_table(result))
        mode    recall@1  recall@5 ...
    """
    columns = metric_columns(result["k_values"])
    names = labels or {}
    rows = [(names.get(mode, mode), values) for mode, values in result["modes"].items()]
    width = max([len("mode")] + [len(label) for label, _ in rows])
    header = "mode".ljust(width) + "".join(f"{column.replace('queries_per_second', 'queries/s'):>11}" for column in columns)
    lines = [header]
    for label, values in rows:
        cells = [f"{values[column]:>11.1f}" if column == "queries_per_second" else f"{values[column]:>11.4f}"
                 for column in columns]
        lines.append(label.ljust(width) + "".join(cells))
    return "\n".join(lines)



def run_retrieval_benchmark(
    folder: str | Path,
    documents: Sequence[Document],
    queries: Sequence[Query],
    modes: str | Sequence[str] = MODES,
    *,
    model: str | None = None,
    encoder: Any = None,
    k_values: Sequence[int] = DEFAULT_K_VALUES,
    build_progress: ProgressCallback | None = None,
    search_progress: ProgressCallback | None = None,
    chunking: ChunkSettings | None = None,
    **search_options: Any,
) -> dict[str, Any]:
    """Open (or create) the collection at ``folder``, add the missing passages, evaluate, close.

    Args:
        folder: the collection folder; an existing collection is reused (see ``open_collection``).
        documents, queries: the corpus and its queries.
        modes, k_values, search_options: as for ``evaluate_retrieval``.
        model, encoder: for a new collection (default: densekit's default text model).
        build_progress, search_progress: ``progress(done, total)`` for the two phases.
        chunking: how passages are split (default: as ``densekit index`` does; see ``build_collection``).
    Returns:
        ``evaluate_retrieval``'s dict plus "build" (BuildReport.as_dict()), "model", "passages"
        (corpus size), "split" (how passages were split, one line) and "extra_items" (items in the
        collection that are not pieces of the corpus).

    Example:
        >>> run_retrieval_benchmark("/tmp/quoref", corpus, questions, "dense,sparse", model="all-MiniLM-L6-v2")
    """
    chosen = parse_modes(modes)
    cutoffs = check_k_values(k_values)
    if not documents:
        raise InvalidInputError("the corpus is empty; expected at least one passage")
    with open_collection(folder, model=model, encoder=encoder) as collection:
        built = build_collection(collection, documents, progress=build_progress, chunking=chunking)
        result = evaluate_retrieval(collection, queries, chosen, cutoffs, progress=search_progress, **search_options)
        result.update(describe_run(collection, built, documents))
    return result


def describe_run(collection: Any, built: BuildReport, documents: Sequence[Document]) -> dict[str, Any]:
    """The run's context for a result: build report, model, corpus size, the split, items not from the corpus."""
    return {
        "build": built.as_dict(),
        "model": collection.encoder().model_name,
        "passages": len(documents),
        "split": built.split,
        "extra_items": max(0, collection.count() - built.chunks),
    }
