"""One factory for vector indexes, keyed by a kind string ("exact", "flat", "hnsw", "auto").

"auto" resolves to "flat" below ``densekit.config.hnsw_threshold()`` vectors and "hnsw" at or
above; the index returned always carries the resolved kind (``index.kind``), which is what the
collection writes to its manifest so ``load_index`` rebuilds the same object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from ..errors import InvalidInputError
from ..progress import ProgressCallback, report
from .base import VectorIndex
from .exact import ExactIndex

#: Kinds the factory builds; "auto" is resolved to one of the others before building.
INDEX_KINDS = ("exact", "flat", "hnsw", "auto")
_HNSW_PARAMS = ("m", "ef_construction", "ef_search", "compact_fraction")
# Vectors copied at once by convert_index, to bound memory on large spaces.
_CONVERT_BATCH = 65_536


def resolve_kind(kind: str, count_hint: int = 0) -> str:
    """The concrete kind for ``kind``: "auto" becomes "flat" or "hnsw" by ``count_hint``.

    Example:
        >>> resolve_kind("auto", 10)
        'flat'
    """
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r}; valid: {', '.join(INDEX_KINDS)}")
    if kind == "auto":
        return "hnsw" if count_hint >= config.hnsw_threshold() else "flat"
    return kind


def _check_params(kind: str, params: dict[str, Any]) -> None:
    valid = _HNSW_PARAMS if kind == "hnsw" else ()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        choices = ", ".join(valid) if valid else "none"
        raise InvalidInputError(f"index kind {kind!r} takes no parameter {unknown[0]!r}; valid: {choices}")


def create_index(kind: str, dimension: int, count_hint: int = 0, **params: Any) -> VectorIndex:
    """Build an empty index.

    Args:
        kind: "exact", "flat", "hnsw" or "auto".
        dimension: vector size.
        count_hint: expected number of vectors; only "auto" uses it.
        **params: HNSW settings (m, ef_construction, ef_search, compact_fraction).
    Returns:
        A VectorIndex whose ``kind`` is the resolved kind.
    Example:
        >>> create_index("auto", 384, count_hint=1_000_000).kind
        'hnsw'
    """
    resolved = resolve_kind(kind, count_hint)
    _check_params(resolved, params)
    if resolved == "exact":
        return ExactIndex(dimension)
    from .faiss_index import FaissIndex

    return FaissIndex(dimension, resolved, **params)


def load_index(kind: str, path: Path, dimension: int, capacity: int | None = None, **params: Any) -> VectorIndex:
    """Read an index saved by ``VectorIndex.save``.

    Args:
        kind: the resolved kind recorded when it was saved ("auto" reads it from the file).
        path: the index file.
        dimension: the expected vector size; a mismatch is an error.
        capacity: vectors to make room for at load, so adds up to it do not copy the index.
        **params: search-time overrides for HNSW (ef_search, compact_fraction).
    Returns:
        The loaded index.
    Example:
        >>> index = load_index("hnsw", Path("text.index"), 384, ef_search=256)  # doctest: +SKIP
    """
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r}; valid: {', '.join(INDEX_KINDS)}")
    if not Path(path).is_file():
        raise InvalidInputError(f"index file {str(path)!r} does not exist")
    if kind == "exact":
        _check_params("exact", params)
        return ExactIndex.load(path, dimension, capacity)
    from .faiss_index import FaissIndex

    if kind == "auto":
        index = _load_any(path, dimension, capacity, **params)
    else:
        index = FaissIndex.load(path, dimension, capacity, **params)
    if kind != "auto" and index.kind != kind:
        raise InvalidInputError(f"{path} holds a {index.kind!r} index, expected {kind!r}")
    return index


def _load_any(path: Path, dimension: int, capacity: int | None, **params: Any) -> VectorIndex:
    """Load whichever kind the file holds (both backends write an npz with a "meta" entry)."""
    import json

    from .faiss_index import FaissIndex

    with np.load(path, allow_pickle=False) as data:
        stored = json.loads(str(data["meta"])).get("kind")
    if stored == "exact":
        _check_params("exact", params)
        return ExactIndex.load(path, dimension, capacity)
    return FaissIndex.load(path, dimension, capacity, **params)


def convert_index(
    index: VectorIndex,
    kind: str,
    progress: ProgressCallback | None = None,
    **params: Any,
) -> VectorIndex:
    """A new index of ``kind`` holding the same ids and vectors (e.g. flat -> hnsw past the threshold).

    Args:
        index: the source index (left unchanged).
        kind: target kind; "auto" resolves by the source's size.
        progress: called with (vectors copied, total).
        **params: settings for the new index.
    Returns:
        The new index.
    Example:
        >>> hnsw = convert_index(flat_index, "hnsw", ef_search=128)  # doctest: +SKIP
    """
    ids = np.sort(index.ids())  # increasing ids let FAISS indexes skip an argsort for lookups
    target = create_index(kind, index.dimension, count_hint=ids.size, **params)
    total = int(ids.size)
    target.reserve(total)
    report(progress, 0, total)
    for start in range(0, total, _CONVERT_BATCH):
        batch = ids[start : start + _CONVERT_BATCH]
        target.add(batch, index.vectors(batch))
        report(progress, min(start + _CONVERT_BATCH, total), total)
    return target
