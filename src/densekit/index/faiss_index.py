"""FAISS-backed indexes: "flat" (exact inner product) and "hnsw" (approximate graph search).

Both wrap a FAISS index addressed by position (0..n-1) and keep our own position -> id array, so
filters and tombstones are one bitmap over positions for either kind. Flat removes for real; HNSW
cannot remove, so removed positions become tombstones that searches skip and ``compact()``
(or a save with many tombstones) drops by rebuilding the graph from the live vectors.
faiss is imported lazily so importing densekit stays fast and works without it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingDependencyError
from ..files import open_syncing
from .base import VectorIndex
from .exact import as_ids, check_new_ids, top_k
from .npz_stream import member_shape, read_faiss_member, read_member, read_member_into, write_faiss_member, write_member

#: Defaults picked with benchmarks/index_speed.py (1M clustered 384-d vectors).
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 100
DEFAULT_EF_SEARCH = 96  # 1M run: recall@10 0.933 at 64, 0.979 at 96
#: save() rebuilds an HNSW graph when more than this share of its positions are tombstones.
DEFAULT_COMPACT_FRACTION = 0.25
#: A filter allowing at most this many live vectors is scored exactly: cheaper than walking a graph
#: whose nodes are nearly all filtered out, and it always finds k hits when they exist.
FILTER_EXACT_LIMIT = 10_000
#: For a flat index, the most allowed vectors gathered and scored apart rather than scanned in place.
FLAT_GATHER_LIMIT = 1_000
#: Vectors reconstructed at once when scoring exactly or rebuilding, to bound memory.
_BLOCK = 65_536

KINDS = ("flat", "hnsw")


def import_faiss() -> Any:
    """Import faiss, or raise MissingDependencyError naming the package to install.

    Example:
        >>> import_faiss().METRIC_INNER_PRODUCT
        0
    """
    try:
        import faiss
    except ImportError as error:
        raise MissingDependencyError("faiss-cpu", "FAISS vector indexes (flat, hnsw)") from error
    return faiss


class FaissIndex(VectorIndex):
    """A FAISS index of kind "flat" or "hnsw" behind the VectorIndex interface.

    Args:
        dimension: vector size.
        kind: "flat" (exact) or "hnsw" (approximate, for large spaces).
        m: HNSW links per node (more: better recall, more memory, slower build).
        ef_construction: HNSW candidate list size while building.
        ef_search: HNSW candidate list size while searching (recall/speed knob; >= k is used).
        compact_fraction: tombstone share above which save() rebuilds the HNSW graph.
    Example:
        >>> index = FaissIndex(2, "hnsw", m=8)
        >>> index.add(np.array([7, 8]), np.array([[1, 0], [0, 1]], np.float32))
        >>> index.search(np.array([[0, 1]], np.float32), 1)[1].tolist()
        [[8]]
    """

    def __init__(
        self,
        dimension: int,
        kind: str = "flat",
        *,
        m: int = DEFAULT_M,
        ef_construction: int = DEFAULT_EF_CONSTRUCTION,
        ef_search: int = DEFAULT_EF_SEARCH,
        compact_fraction: float = DEFAULT_COMPACT_FRACTION,
    ):
        super().__init__(dimension)
        if kind not in KINDS:
            raise InvalidInputError(f"unknown FAISS index kind {kind!r}; valid: {', '.join(KINDS)}")
        for name, value in (("m", m), ("ef_construction", ef_construction), ("ef_search", ef_search)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < compact_fraction <= 1:
            raise InvalidInputError(f"compact_fraction must be in (0, 1], got {compact_fraction!r}")
        self._faiss = import_faiss()
        self.kind = kind
        self.m, self.ef_construction, self.ef_search = int(m), int(ef_construction), int(ef_search)
        self.compact_fraction = float(compact_fraction)
        self._index = self._new_faiss_index()
        self._labels = np.empty(0, dtype=np.int64)  # position -> id
        self._live = np.empty(0, dtype=bool)  # position -> not a tombstone
        self._dead = 0
        self._labels_sorted = True  # true while ids were added in increasing order: no argsort needed
        self._sorter: np.ndarray | None = None
        self._live_bitmap: np.ndarray | None = None
        self._plain_params: dict[int, Any] = {}  # efSearch -> SearchParametersHNSW without a selector

    def params(self) -> dict[str, Any]:
        """The settings that rebuild this index, for the collection manifest."""
        if self.kind == "flat":
            return {"kind": "flat"}
        return {
            "kind": "hnsw",
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "compact_fraction": self.compact_fraction,
        }

    def _new_faiss_index(self) -> Any:
        faiss = self._faiss
        if self.kind == "flat":
            return faiss.IndexFlatIP(self.dimension)
        index = faiss.IndexHNSWFlat(self.dimension, self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.ef_construction
        index.hnsw.efSearch = self.ef_search
        return index

    # ---- id bookkeeping -------------------------------------------------------------------------
    def _forget_caches(self) -> None:
        self._sorter = None
        self._live_bitmap = None

    def _positions(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of ``ids`` and a mask of which were found live."""
        labels = self._labels
        if labels.size == 0 or ids.size == 0:
            return np.zeros(ids.shape[0], np.int64), np.zeros(ids.shape[0], bool)
        if self._labels_sorted:
            positions = np.minimum(np.searchsorted(labels, ids), labels.size - 1)
        else:
            if self._sorter is None:
                self._sorter = np.argsort(labels, kind="stable")
            where = np.minimum(np.searchsorted(labels, ids, sorter=self._sorter), labels.size - 1)
            positions = self._sorter[where]
        found = (labels[positions] == ids) & self._live[positions]
        return positions, found

    def _bitmap(self, positions: np.ndarray | None) -> np.ndarray:
        """A FAISS bitmap (bit i = position i allowed) for these positions, or for all live ones."""
        if positions is None:
            if self._live_bitmap is None:
                self._live_bitmap = np.packbits(self._live, bitorder="little")
            return self._live_bitmap
        mask = np.zeros(self._labels.size, dtype=bool)
        mask[positions] = True
        return np.packbits(mask, bitorder="little")

    # ---- VectorIndex ----------------------------------------------------------------------------
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = self._check_vectors(vectors)
        largest = int(self._labels[-1]) if self._labels_sorted and self._labels.size else (
            int(self._labels.max()) if self._labels.size else -1
        )
        ids = check_new_ids(ids, vectors.shape[0], largest, self._labels)
        if ids.size == 0:
            return
        self._index.add(vectors)
        self._labels_sorted = bool(
            self._labels_sorted and ids[0] > largest and (ids.size < 2 or np.all(ids[1:] > ids[:-1]))
        )
        self._labels = np.concatenate([self._labels, ids])
        self._live = np.concatenate([self._live, np.ones(ids.size, dtype=bool)])
        self._forget_caches()

    def reserve(self, count: int) -> None:
        # FAISS's arrays grow like std::vector (a copy per doubling); sized once, later adds fill them
        # in place. Resizing up and back down keeps the capacity.
        extra = count - self._labels.size
        if extra <= 0:
            return
        storage = self._storage()
        _reserve(storage.codes, (storage.ntotal + extra) * storage.code_size)
        if self.kind == "hnsw":
            graph = self._index.hnsw
            # Expected neighbour slots per node: 2M on level 0, M per upper level, and a node reaches
            # level l with probability M^-l, so M/(M-1) more on average (plus 2% for chance).
            slots = 2 * self.m + self.m / (self.m - 1)
            _reserve(graph.neighbors, graph.neighbors.size() + int(extra * slots * 1.02))
            _reserve(graph.levels, graph.levels.size() + extra)
            _reserve(graph.offsets, graph.offsets.size() + extra)

    def remove(self, ids: np.ndarray) -> None:
        positions, found = self._positions(as_ids(ids))
        positions = np.unique(positions[found])
        if positions.size == 0:
            return
        if self.kind == "flat":
            self._index.remove_ids(self._faiss.IDSelectorBatch(positions))
            keep = np.ones(self._labels.size, dtype=bool)
            keep[positions] = False
            self._labels, self._live = self._labels[keep], self._live[keep]
        else:
            self._live[positions] = False
            self._dead += positions.size
        self._forget_caches()

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = self._check_vectors(queries, "queries")
        k = self._check_k(k)
        candidates: np.ndarray | None = None  # positions allowed; None means every live one
        if allowed is not None:
            positions, found = self._positions(as_ids(allowed, "allowed"))
            candidates = np.unique(positions[found])
            # A flat index scans every vector anyway: past a small filter, its own scan with the
            # filter's bitmap beats gathering the allowed vectors (100k x 384, a 10% filter: 42 -> 10 ms).
            if candidates.size <= (FILTER_EXACT_LIMIT if self.kind == "hnsw" else FLAT_GATHER_LIMIT):
                return self._exact(queries, candidates, k)
        available = len(self) if candidates is None else candidates.size
        if available == 0:
            return self._exact(queries, np.empty(0, np.int64), k)

        selector_bitmap = None
        if candidates is not None or self._dead:
            selector_bitmap = self._bitmap(candidates)
        distances, positions = self._faiss_search(queries, k, selector_bitmap)
        found = positions >= 0
        if found.all():  # the usual case, k hits per row: ten numpy calls less (1M, one query: ~50 us)
            return distances.astype(np.float32, copy=False), self._labels[positions]
        scores = distances.astype(np.float32)
        ids = np.where(found, self._labels[np.maximum(positions, 0)], -1)
        scores[~found] = -np.inf

        # HNSW may stop short of k hits when a filter or tombstones hide most of the graph;
        # redo those rows exactly so callers always get k hits when k exist.
        short = np.flatnonzero(found.sum(axis=1) < min(k, available))
        if short.size:
            pool = candidates if candidates is not None else np.flatnonzero(self._live)
            scores[short], ids[short] = self._exact(queries[short], pool, k)
        return scores, ids

    def _faiss_search(self, queries: np.ndarray, k: int, bitmap: np.ndarray | None):
        faiss = self._faiss
        selector = faiss.IDSelectorBitmap(bitmap) if bitmap is not None else None
        if self.kind == "hnsw":
            # SearchParametersHNSW defaults efSearch to 16, so always pass ours explicitly.
            ef = max(self.ef_search, k)
            if selector is not None:
                params = faiss.SearchParametersHNSW(efSearch=ef)
                params.sel = selector
            else:  # unfiltered: one read-only parameter object per efSearch, not one per call
                params = self._plain_params.get(ef) or self._plain_params.setdefault(ef, faiss.SearchParametersHNSW(efSearch=ef))
        elif selector is not None:
            params = faiss.SearchParameters(sel=selector)
        else:
            params = None
        distances, positions = self._index.search(queries, k, params=params)
        del selector, bitmap  # the selector points into the bitmap: both must outlive the search
        return distances, positions

    def _exact(self, queries: np.ndarray, positions: np.ndarray, k: int):
        """Exact top-k over the vectors at ``positions``, reconstructed block by block."""
        best_scores, best_ids = top_k(np.empty((queries.shape[0], 0), np.float32), np.empty(0, np.int64), k)
        for start in range(0, positions.size, _BLOCK):
            block = positions[start : start + _BLOCK]
            scores, ids = top_k(queries @ self._reconstruct(block).T, self._labels[block], k)
            merged_scores = np.concatenate([best_scores, scores], axis=1)
            merged_ids = np.concatenate([best_ids, ids], axis=1)
            # Padding (-inf, -1) sorts last, so merging partial results is one more top_k.
            order = np.lexsort((np.where(merged_ids < 0, np.iinfo(np.int64).max, merged_ids), -merged_scores))
            order = order[:, :k]
            best_scores = np.take_along_axis(merged_scores, order, axis=1)
            best_ids = np.take_along_axis(merged_ids, order, axis=1)
        return best_scores, best_ids

    def _reconstruct(self, positions: np.ndarray) -> np.ndarray:
        if positions.size == 0:
            return np.empty((0, self.dimension), np.float32)
        return self._index.reconstruct_batch(np.ascontiguousarray(positions, dtype=np.int64))

    def ids(self) -> np.ndarray:
        return self._labels[self._live]

    @property
    def tombstones(self) -> int:
        """Removed vectors still held by an HNSW graph until the next compaction."""
        return self._dead

    def __len__(self) -> int:
        return int(self._labels.size - self._dead)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = as_ids(ids)
        positions, found = self._positions(ids)
        if not found.all():
            raise InvalidInputError(f"id {int(ids[~found][0])} is not in the index")
        return self._reconstruct(positions)

    def compact(self) -> None:
        """Rebuild the HNSW graph from the live vectors, dropping tombstones (no-op without any)."""
        if self._dead == 0:
            return
        keep = np.flatnonzero(self._live)
        rebuilt = self._new_faiss_index()
        for start in range(0, keep.size, _BLOCK):
            rebuilt.add(self._reconstruct(keep[start : start + _BLOCK]))
        self._index = rebuilt
        self._labels = self._labels[keep]
        self._live = np.ones(keep.size, dtype=bool)
        self._dead = 0
        self._forget_caches()

    def save(self, path: Path) -> None:
        if self._dead > self.compact_fraction * self._labels.size:
            self.compact()
        meta = json.dumps({"dimension": self.dimension, **self.params()})
        # One file: the vectors as a plain array, the HNSW graph (FAISS's serialization without its
        # vectors), our ids and tombstones. The vectors apart let ``load`` read them into a buffer
        # with room to grow (see there). An open file object keeps the caller's exact path (np.savez
        # would append ".npz"). Synced as it goes (concurrent commits never wait for all of it),
        # streamed (npz_stream.py): no copy of the index in memory.
        with open_syncing(path) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            write_member(archive, "meta", np.array(meta))
            write_member(archive, "vectors", _stored_vectors(self._storage(), self.dimension, self._faiss))
            if self.kind == "hnsw":
                write_faiss_member(archive, "index", self._index, self._faiss, self._faiss.IO_FLAG_SKIP_STORAGE)
            write_member(archive, "labels", self._labels)
            write_member(archive, "live", self._live)

    @classmethod
    def load(cls, path: Path, dimension: int, capacity: int | None = None, **overrides: Any) -> "FaissIndex":
        """Read a file written by ``save``; ``overrides`` may change search-time settings (ef_search).

        ``capacity``: vectors to make room for (at least the stored ones). FAISS keeps its vectors in
        one array of exactly the stored size, so without room the first add after loading copies the
        whole array (1.5 GB at 1M x 384: one add took 17 s on a busy machine). With room, adds up to
        ``capacity`` fill it in place; the vectors are read straight into it, so loading costs no copy.

        Example:
            >>> index = FaissIndex.load(Path("space.index"), 384, ef_search=256)  # doctest: +SKIP
        """
        faiss = import_faiss()
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(str(read_member(archive, "meta")))
            kind = meta.pop("kind", None)
            if kind not in KINDS:
                raise InvalidInputError(f"{path} holds a {kind!r} index, expected one of {', '.join(KINDS)}")
            stored = meta.pop("dimension")
            if stored != dimension:
                raise InvalidInputError(f"{path} holds {stored}-d vectors, expected dimension {dimension}")
            unknown = set(overrides) - {"ef_search", "compact_fraction"}
            if unknown:
                raise InvalidInputError(
                    f"cannot override {sorted(unknown)} at load; valid: ef_search, compact_fraction"
                )
            meta.update(overrides)
            index = cls(dimension, kind, **meta)
            if "vectors.npy" in archive.namelist():
                index._index = _read_with_room(archive, kind, dimension, capacity or 0, faiss)
            else:  # a file written before the vectors were stored apart: FAISS's whole serialization
                index._index = read_faiss_member(archive, "index", faiss)
            index._labels = read_member(archive, "labels").astype(np.int64)
            index._live = read_member(archive, "live").astype(bool)
        if kind == "hnsw":
            index._index.hnsw.efSearch = index.ef_search
        index._dead = int(index._labels.size - index._live.sum())
        index._labels_sorted = bool(np.all(index._labels[1:] > index._labels[:-1]))
        if kind == "hnsw" and capacity:
            index.reserve(capacity)  # the graph's arrays (its vectors already have the room)
        return index

    def _storage(self) -> Any:
        """The FAISS flat index holding the vectors (an HNSW index's storage)."""
        return self._faiss.downcast_index(self._index.storage) if self.kind == "hnsw" else self._index


def _stored_vectors(storage: Any, dimension: int, faiss: Any) -> np.ndarray:
    """A view (no copy) of a FAISS flat index's vectors as an (n, dimension) float32 array."""
    if storage.ntotal == 0:
        return np.empty((0, dimension), np.float32)
    size = storage.ntotal * storage.code_size
    return faiss.rev_swig_ptr(storage.codes.data(), size).view(np.float32).reshape(storage.ntotal, dimension)


def _read_with_room(archive: zipfile.ZipFile, kind: str, dimension: int, capacity: int, faiss: Any) -> Any:
    """The FAISS index of a file's members, its vectors read into an array with room for ``capacity``."""
    shape, dtype = member_shape(archive, "vectors")
    if dtype != np.float32 or len(shape) != 2 or shape[1] != dimension:
        raise InvalidInputError(f"index vectors of shape {shape} and type {dtype}, expected (n, {dimension}) float32")
    count = int(shape[0])
    storage = faiss.IndexFlatIP(dimension)
    # Sized up to the room, then down to the stored vectors: the capacity stays (std::vector).
    storage.codes.resize(max(capacity, count) * storage.code_size)
    storage.codes.resize(count * storage.code_size)
    if count:
        read_member_into(archive, "vectors", faiss.rev_swig_ptr(storage.codes.data(), count * storage.code_size))
    storage.ntotal = count
    if kind == "flat":
        return storage
    graph = read_faiss_member(archive, "index", faiss, faiss.IO_FLAG_SKIP_STORAGE)
    if graph.ntotal != count:
        raise InvalidInputError(f"an HNSW graph of {graph.ntotal} nodes beside {count} vectors")
    graph.storage = storage
    graph.own_fields = True  # the graph frees its storage, as when FAISS reads both
    storage.this.disown()
    return graph


def _reserve(vector: Any, size: int) -> None:
    """Give a FAISS vector the capacity for ``size`` elements without changing its contents."""
    current = vector.size()
    if size > current:
        vector.resize(size)
        vector.resize(current)
