"""The VectorIndex interface every backend implements.

Ids are int64 row ids that the collection assigns and never reuses, so a backend may keep removed
vectors as tombstones (HNSW cannot delete) without an id ever meaning two things.
Scores are inner products; vectors are expected L2-normalised, so they are cosine similarities.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError


class VectorIndex(abc.ABC):
    """A set of (id, vector) pairs searchable by inner product."""

    #: The name the factory knows this backend by; written into the manifest.
    kind: str = ""

    def __init__(self, dimension: int):
        if dimension < 1:
            raise InvalidInputError(f"dimension must be >= 1, got {dimension}")
        self.dimension = dimension

    @abc.abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new ids (int64, unique, not present)."""

    @abc.abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Remove ids; ids not present are ignored."""

    @abc.abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by inner product for each query row.

        Args:
            queries: (q, dimension) float32.
            k: hits per query.
            allowed: optional int64 ids; when given, only these ids may be returned, and k hits come
                back whenever k allowed ids exist.
        Returns:
            (scores, ids), each (q, k); missing hits have id -1 and score -inf.
        """

    @abc.abstractmethod
    def ids(self) -> np.ndarray:
        """All live ids, int64, in no particular order."""

    @abc.abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for these ids, (len(ids), dimension) float32."""

    @abc.abstractmethod
    def save(self, path: Path) -> None:
        """Write the whole index to one file at ``path`` (the caller makes it atomic)."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: Path, dimension: int, capacity: int | None = None) -> "VectorIndex":
        """Read an index written by ``save``, with room for ``capacity`` vectors when given."""

    def reserve(self, count: int) -> None:
        """Make room for ``count`` vectors in all before adding them in batches: growing by doubling
        would copy the index at each step and briefly hold two copies (a hint; default: nothing)."""
        return None

    def __len__(self) -> int:
        return int(self.ids().shape[0])

    # Shared argument checks, so every backend rejects bad input the same way.
    def _check_vectors(self, vectors: np.ndarray, what: str = "vectors") -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dimension:
            raise InvalidInputError(
                f"{what} must have shape (n, {self.dimension}), got {tuple(array.shape)}"
            )
        if not np.isfinite(array).all():
            raise InvalidInputError(f"{what} contain NaN or infinity")
        return np.ascontiguousarray(array)

    @staticmethod
    def _check_k(k: int) -> int:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        return int(k)
