"""Exact (brute-force) inner-product search in numpy: the oracle every other backend is tested against.

Also holds the small helpers the FAISS backend shares with it (id checks, deterministic top-k), so
both backends validate ids and break ties the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ..files import open_syncing
from .base import VectorIndex

# Rows of the score matrix computed at once, so a search over a large index never holds
# a (queries x size) float32 matrix much bigger than this many cells.
_SCORE_BLOCK_CELLS = 1 << 25


def as_ids(ids: np.ndarray, what: str = "ids") -> np.ndarray:
    """Validate and convert ids to a 1-D int64 array of non-negative values.

    Args:
        ids: anything array-like of integers.
        what: the name used in error messages.
    Returns:
        A contiguous int64 array.
    Example:
        >>> as_ids([3, 1]).dtype
        dtype('int64')
    """
    array = np.asarray(ids)
    if array.ndim != 1:
        raise InvalidInputError(f"{what} must be a 1-D array of integers, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInputError(f"{what} must be integers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.int64)
    if array.size and array.min() < 0:
        # -1 is the padding id in search results, so negative ids would be ambiguous.
        raise InvalidInputError(f"{what} must be >= 0, got {int(array.min())}")
    return array


def check_new_ids(ids: np.ndarray, count: int, existing_max: int, existing: np.ndarray) -> np.ndarray:
    """Validate ids for ``add``: int64, one per vector, unique, and not already used.

    Args:
        ids: the new ids.
        count: the number of vectors being added.
        existing_max: the largest id stored (-1 when empty); ids above it skip the membership
            check, the usual case because the collection assigns increasing ids.
        existing: the ids stored now (live or tombstoned), checked only when needed.
    Returns:
        The ids as int64.
    Example:
        >>> check_new_ids(np.array([5]), 1, 4, np.arange(5)).tolist()
        [5]
    """
    array = as_ids(ids)
    if array.shape[0] != count:
        raise InvalidInputError(f"got {array.shape[0]} ids for {count} vectors; expected one id per vector")
    if array.size == 0:
        return array
    unique = np.sort(array)
    repeated = unique[1:][unique[1:] == unique[:-1]]
    if repeated.size:
        raise InvalidInputError(f"ids must be unique within one add; {int(repeated[0])} repeats")
    if unique[0] <= existing_max:
        clash = unique[np.isin(unique, existing)]
        if clash.size:
            raise InvalidInputError(f"id {int(clash[0])} is already in the index; ids are never reused")
    return array


def top_k(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best columns of each score row, ties broken by the smaller id; padded with -1 / -inf.

    Args:
        scores: (q, n) float32 scores.
        ids: (n,) int64 ids of the columns.
        k: hits per row.
    Returns:
        (scores, ids), each (q, k).
    Example:
        >>> top_k(np.array([[0.1, 0.9, 0.9]], np.float32), np.array([7, 5, 3]), 2)[1].tolist()
        [[3, 5]]
    """
    queries, size = scores.shape
    out_scores = np.full((queries, k), -np.inf, dtype=np.float32)
    out_ids = np.full((queries, k), -1, dtype=np.int64)
    take = min(k, size)
    if take == 0:
        return out_scores, out_ids
    if take < size:
        block = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    else:
        block = np.broadcast_to(np.arange(size), (queries, size))
    block_scores = np.take_along_axis(scores, block, axis=1)
    block_ids = ids[block]
    order = np.lexsort((block_ids, -block_scores), axis=1)
    block_scores = np.take_along_axis(block_scores, order, axis=1)
    block_ids = np.take_along_axis(block_ids, order, axis=1)
    if take < size:
        # argpartition splits ties at the k-th score arbitrarily; redo those rows so the
        # smaller id always wins and results do not depend on memory layout.
        threshold = block_scores[:, -1:]
        tied_rows = np.flatnonzero((scores >= threshold).sum(axis=1) > take)
        for row in tied_rows:
            candidates = np.flatnonzero(scores[row] >= threshold[row, 0])
            order_row = np.lexsort((ids[candidates], -scores[row, candidates]))[:take]
            block_scores[row] = scores[row, candidates[order_row]]
            block_ids[row] = ids[candidates[order_row]]
    out_scores[:, :take] = block_scores
    out_ids[:, :take] = block_ids
    return out_scores, out_ids


def exact_search(
    queries: np.ndarray, matrix: np.ndarray, ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product of ``queries`` against the rows of ``matrix`` (labelled ``ids``).

    Example:
        >>> unit = np.eye(2, dtype=np.float32)
        >>> exact_search(unit, unit, np.array([4, 9]), 1)[1].tolist()
        [[4], [9]]
    """
    rows_per_block = max(1, _SCORE_BLOCK_CELLS // max(1, matrix.shape[0]))
    parts = [
        top_k(queries[start : start + rows_per_block] @ matrix.T, ids, k)
        for start in range(0, queries.shape[0], rows_per_block)
    ]
    if not parts:
        return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


class ExactIndex(VectorIndex):
    """Brute-force search over a growable float32 matrix; exact, deterministic, O(n) per query.

    Example:
        >>> index = ExactIndex(2)
        >>> index.add(np.array([10, 11]), np.array([[1, 0], [0, 1]], np.float32))
        >>> index.search(np.array([[1, 0]], np.float32), 1)[1].tolist()
        [[10]]
    """

    kind = "exact"

    def __init__(self, dimension: int):
        super().__init__(dimension)
        self._ids = np.empty(0, dtype=np.int64)
        self._matrix = np.empty((0, dimension), dtype=np.float32)
        self._count = 0
        # Ids only grow in practice, so remembering the largest skips most clash checks.
        self._max_id = -1

    def params(self) -> dict[str, str]:
        """The settings that rebuild this index, for the collection manifest (none but the kind)."""
        return {"kind": self.kind}

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = self._check_vectors(vectors)
        ids = check_new_ids(ids, vectors.shape[0], self._max_id, self._ids[: self._count])
        if ids.size == 0:
            return
        needed = self._count + ids.shape[0]
        if needed > self._matrix.shape[0]:
            # Grow geometrically so many small adds stay amortised O(n).
            self.reserve(max(needed, 2 * self._matrix.shape[0], 1024))
        self._matrix[self._count : needed] = vectors
        self._ids[self._count : needed] = ids
        self._count = needed
        self._max_id = max(self._max_id, int(ids.max()))

    def reserve(self, count: int) -> None:
        if count > self._matrix.shape[0]:
            matrix = np.empty((count, self.dimension), dtype=np.float32)
            matrix[: self._count] = self._matrix[: self._count]
            grown = np.empty(count, dtype=np.int64)
            grown[: self._count] = self._ids[: self._count]
            self._matrix, self._ids = matrix, grown

    def remove(self, ids: np.ndarray) -> None:
        ids = as_ids(ids)
        keep = ~np.isin(self._ids[: self._count], ids)
        if keep.all():
            return
        live = int(keep.sum())
        self._matrix[:live] = self._matrix[: self._count][keep]
        self._ids[:live] = self._ids[: self._count][keep]
        self._count = live

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_vectors(queries, "queries")
        k = self._check_k(k)
        matrix, ids = self._matrix[: self._count], self._ids[: self._count]
        if allowed is not None:
            mask = np.isin(ids, as_ids(allowed, "allowed"))
            matrix, ids = matrix[mask], ids[mask]
        return exact_search(queries, matrix, ids, k)

    def ids(self) -> np.ndarray:
        return self._ids[: self._count].copy()

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = as_ids(ids)
        live = self._ids[: self._count]
        order = np.argsort(live, kind="stable")
        where = np.searchsorted(live, ids, sorter=order)
        where = np.minimum(where, max(0, live.shape[0] - 1))
        rows = order[where] if live.size else where
        if ids.size and (live.size == 0 or not np.array_equal(live[rows], ids)):
            missing = ids[~np.isin(ids, live)]
            raise InvalidInputError(f"id {int(missing[0])} is not in the index")
        return self._matrix[rows].copy()

    def save(self, path: Path) -> None:
        meta = json.dumps({"kind": self.kind, "dimension": self.dimension})
        # An open file keeps the caller's exact path (np.savez would append ".npz" to a name).
        with open_syncing(path) as handle:  # synced as it goes: concurrent commits never wait for all of it
            np.savez(
                handle,
                meta=np.array(meta),
                ids=self._ids[: self._count],
                vectors=self._matrix[: self._count],
            )

    @classmethod
    def load(cls, path: Path, dimension: int, capacity: int | None = None) -> "ExactIndex":
        """Read a file written by ``save``, with room for ``capacity`` vectors (adds up to it copy nothing)."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("kind") != cls.kind:
                raise InvalidInputError(f"{path} holds a {meta.get('kind')!r} index, expected {cls.kind!r}")
            if meta["dimension"] != dimension:
                raise InvalidInputError(
                    f"{path} holds {meta['dimension']}-d vectors, expected dimension {dimension}"
                )
            index = cls(dimension)
            index._ids = data["ids"].astype(np.int64)
            index._matrix = np.ascontiguousarray(data["vectors"], dtype=np.float32)
        index._count = index._ids.shape[0]
        index._max_id = int(index._ids.max()) if index._count else -1
        if capacity:
            index.reserve(capacity)
        return index
