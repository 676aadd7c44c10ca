"""Searching a PostgreSQL collection: dense (pgvector HNSW), sparse (full-text) or hybrid, with filters.

Filtered dense search uses pgvector's iterative index scans (>= 0.8): the HNSW scan keeps going
until LIMIT rows pass the filter. Should it still stop short (its tuple budget ran out), the query
is re-run as an exact scan, so k hits come back whenever k matching rows exist.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import InvalidInputError
from ..search import Hit, _rerank, check_k, check_search_arguments
from . import rows, schema
from .filters import where_to_sql

if TYPE_CHECKING:
    from .collection import PostgresCollection

#: The session's hnsw.ef_search (set on connecting) and the highest pgvector accepts.
_DEFAULT_EF_SEARCH = schema.EF_SEARCH
_MAX_EF_SEARCH = 1000
_NORMALIZATION = 1  # ts_rank divides by 1 + log(document length), like BM25's length damping


def search(
    collection: "PostgresCollection",
    query: str,
    k: int = 5,
    *,
    mode: str = "dense",
    where: dict[str, Any] | None = None,
    space: str = "text",
    alpha: float | None = None,
    rrf_k: int = 60,
    rerank: Any = None,
    candidates: int | None = None,
) -> list[Hit]:
    """Top-k items for a text query; the options are those of ``densekit.collection.search.search``."""
    k = check_search_arguments(query, k, mode, alpha)
    condition = where_to_sql(where)
    depth = max(candidates or 0, k, 50 if (mode == "hybrid" or rerank) else k)
    vector = _query_vector(collection, query, space) if mode != "sparse" else None

    items: dict = {}

    def run(connection) -> list:
        items.clear()  # a retry on another server starts afresh
        if mode == "dense":
            return _dense(connection, collection.name, vector, space, depth, condition, items)
        if mode == "sparse":
            return _sparse(connection, collection.name, query, depth, condition, items)
        from ...fusion import reciprocal_rank_fusion, weighted_fusion

        dense = _dense(connection, collection.name, vector, space, depth, condition, items)
        sparse = _sparse(connection, collection.name, query, depth, condition, items)
        if alpha is None:
            return reciprocal_rank_fusion([[r for r, _ in dense], [r for r, _ in sparse]], k=rrf_k)
        return weighted_fusion([dense, sparse], alpha)

    ranked = collection._searching(run)
    hits = _hits(items, ranked)
    if rerank is not None and hits:
        hits = _rerank(query, hits, rerank)
    return hits[:k]


def search_vector(collection: "PostgresCollection", vectors: np.ndarray, k: int, *, space: str = "text", where=None) -> list[Hit]:
    """Top-k items for one ready-made query vector (same model as the space)."""
    k = check_k(k)
    target = _space(collection, space)
    target.check_query(vectors)
    condition = where_to_sql(where)
    items: dict = {}

    def run(connection) -> list:
        items.clear()
        return _dense(connection, collection.name, vectors[0], space, k, condition, items)

    return _hits(items, collection._searching(run))


def _space(collection, name: str):
    if name not in collection.spaces:
        raise InvalidInputError(f"no space {name!r} in this collection; spaces: {', '.join(collection.spaces)}")
    return collection.spaces[name]


def _query_vector(collection, query: str, space: str) -> np.ndarray:
    target = _space(collection, space)
    encoder = collection.encoder(space)
    # Asymmetric encoders (DPR question/context, CLIP text/image) encode queries their own way.
    encode_query = getattr(encoder, "encode_queries", None) or encoder.encode
    vector = np.asarray(encode_query([query]), dtype=np.float32)
    target.check_query(vector)
    return vector[0]


def _dense(connection, name, vector: np.ndarray, space: str, depth: int, condition, items) -> list[tuple[int, float]]:
    """(rowid, inner product) best first, filling ``items`` (rowid -> Item) in the same round trip.
    ``<#>`` is the negative inner product, the order the HNSW index serves."""
    from psycopg import sql

    column = sql.Identifier(schema.vector_column(space))
    clause, parameters = condition
    query = sql.SQL(
        "SELECT {columns}, -({column} <#> %b) FROM {items} WHERE {column} IS NOT NULL AND ({clause}) "
        "ORDER BY {column} <#> %b LIMIT %s"
    ).format(columns=rows.select_columns(), column=column, items=schema.identifiers(name)["items"], clause=sql.SQL(clause))
    arguments = [vector, *parameters, vector, depth]
    # hnsw.iterative_scan and ef_search are set per session (connection.connect); ef_search again when short.
    with connection.transaction() if depth > _DEFAULT_EF_SEARCH else contextlib.nullcontext():
        if depth > _DEFAULT_EF_SEARCH:
            connection.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(min(_MAX_EF_SEARCH, depth))))
        found = connection.execute(query, arguments).fetchall()
    if len(found) < depth:
        # The index scan may stop early (its tuple budget); an exact scan finds every match.
        with connection.transaction():
            connection.execute("SET LOCAL enable_indexscan = off")
            found = connection.execute(query, arguments).fetchall()
            connection.execute("SET LOCAL enable_indexscan = on")  # inside a caller's transaction it would linger
    return _collect(found, items)


def _collect(found, items) -> list[tuple[int, float]]:
    ranked = []
    for row in found:
        item = rows.item_from_row(row)
        items[item.rowid] = item
        ranked.append((item.rowid, float(row[-1])))
    return ranked


def _sparse(connection, name: str, text: str, depth: int, condition, items) -> list[tuple[int, float]]:
    """(rowid, ts_rank) best first, filling ``items``; an item matches when it shares any (stemmed,
    non-stop) word."""
    from psycopg import sql

    clause, parameters = condition
    # OR of the query's lexemes, each quoted for tsquery input (PostgreSQL's own parser ANDs them).
    any_word = sql.SQL(
        "(SELECT string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || '''', ' | ')::tsquery AS words"
        " FROM unnest(to_tsvector({config}, %s))) AS query_words"
    ).format(config=sql.Literal(schema.TEXT_SEARCH_CONFIG))
    query = sql.SQL(
        "SELECT {columns}, ts_rank(search, words, {normalization}) AS score FROM {items}, {any_word} "
        "WHERE search @@ words AND ({clause}) ORDER BY score DESC, rowid LIMIT %s"
    ).format(
        columns=rows.select_columns(),
        normalization=sql.Literal(_NORMALIZATION),
        items=schema.identifiers(name)["items"],
        any_word=any_word,
        clause=sql.SQL(clause),
    )
    return _collect(connection.execute(query, [text, *parameters, depth]).fetchall(), items)


def _hits(items, ranked: list[tuple[int, float]]) -> list[Hit]:
    hits = []
    for rowid, score in ranked:
        item = items[rowid]
        hits.append(Hit(item.id, score, item.text, item.metadata, item.parent, item.start, item.end, item.kind))
    return hits
