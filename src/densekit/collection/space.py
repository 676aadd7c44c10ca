"""A named vector space in a collection: which encoder made its vectors, and the index holding them."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelMismatchError
from ..index.base import VectorIndex

LOAD_OVERRIDES = ("ef_search", "compact_fraction")
_log = logging.getLogger(__name__)
#: True while an index run goes on (``index_run``): its commits keep each space's index kind (an
#: "auto" space past the HNSW threshold stays flat: exact, and without a graph) and start no
#: background checkpoint (a second copy of the index, in a thread); its end does both, inline.
IN_INDEX_RUN: contextvars.ContextVar[bool] = contextvars.ContextVar("in_index_run", default=False)
#: The committed generation an index run started from (its segments are those written after it).
INDEX_RUN_SINCE: contextvars.ContextVar[int | None] = contextvars.ContextVar("index_run_since", default=None)


@contextlib.contextmanager
def index_run(since: int | None = None):
    """Commits inside are those of an index run (``ingest``), whose end (``Collection.merge_segments``)
    converts the index and writes its checkpoint once, after the run's BM25 segments are merged, so
    neither the run's writes nor its merge hold memory on top of a graph or a checkpoint's copy."""
    token, since_token = IN_INDEX_RUN.set(True), INDEX_RUN_SINCE.set(since)
    try:
        yield
    finally:
        INDEX_RUN_SINCE.reset(since_token)
        IN_INDEX_RUN.reset(token)


@dataclass
class VectorSpace:
    name: str
    encoder_info: dict[str, Any]
    index_kind: str  # what the user asked for: "auto", "exact", "flat" or "hnsw"
    index: VectorIndex | None = None
    file: str | None = None  # the index file the manifest names, relative to the collection
    dirty: bool = False  # staged changes not yet committed
    index_params: dict[str, Any] = field(default_factory=dict)
    # The embedded store (collection/embedded/vector_log.py): the key its vectors are stored under in
    # the content store (None: a collection made before, until its first write), the generation of
    # its checkpoint ``file``, the generation the index shows, the rows changed since the checkpoint
    # (committed, and staged by this writer), and whether the next commit must write a checkpoint.
    vector_key: str | None = None
    file_sha256: str | None = None
    checkpoint_generation: int = 0
    shows: int = 0
    tail: int = 0
    staged_rows: int = 0
    rewrite: bool = False

    @property
    def dimension(self) -> int:
        return int(self.encoder_info["dimension"])

    @property
    def kind(self) -> str:
        """What the space holds: 'text' or 'image' (from its encoder)."""
        return self.encoder_info.get("kind", "text")

    def manifest_entry(self) -> dict[str, Any]:
        resolved = getattr(self.index, "kind", None) or self.index_kind
        params = self.index.params() if hasattr(self.index, "params") else dict(self.index_params)
        params = {key: value for key, value in params.items() if key != "kind"}
        return {
            "encoder": self.encoder_info,
            "index": {"requested": self.index_kind, "kind": resolved, "params": params, "file": self.file,
                      **({"vectors": self.vector_key, "generation": self.checkpoint_generation, "tail": self.tail}
                         if self.vector_key else {})},
            "count": len(self.index) if self.index is not None else 0,
        }

    def check_encoder(self, info: dict[str, Any], allow_backend_mismatch: bool = False) -> None:
        """Refuse an encoder other than the one that built this space.

        Args:
            info: the encoder's ``EncoderInfo.as_dict()`` (model, dimension, backend).
            allow_backend_mismatch: accept another backend of the same model and dimension (e.g.
                torch fp32 queries on an int8 space) with a logged warning; the vectors differ
                slightly (int8 vs fp32 mean cosine 0.99 for MiniLM, 0.87 for mpnet), so scores shift.

        Raises:
            ModelMismatchError: another model or dimension, or another backend unless allowed.
        """
        differs = [key for key in ("model", "dimension", "backend") if info.get(key) != self.encoder_info.get(key)]
        if differs == ["backend"] and allow_backend_mismatch:
            _log.warning(
                "space %r was built with backend %r; encoding with backend %r as asked (allow_backend_mismatch): "
                "vectors of the two backends differ slightly, so scores and rankings may shift",
                self.name, self.encoder_info.get("backend"), info.get("backend"),
            )
            return
        if differs:
            hint = ("Query with the same backend, or allow a backend mismatch (--allow-backend-mismatch)."
                    if differs == ["backend"] else "Query with the same model, or re-index into a new collection.")
            raise ModelMismatchError(
                f"space {self.name!r} was built with {self.encoder_info.get('model')!r} "
                f"({self.encoder_info.get('dimension')}-d, backend {self.encoder_info.get('backend')!r}); "
                f"got {info.get('model')!r} ({info.get('dimension')}-d, backend {info.get('backend')!r}). "
                + hint
            )

    def check_query(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ModelMismatchError(
                f"space {self.name!r} holds {self.dimension}-d vectors from {self.encoder_info.get('model')!r}; "
                f"got query vectors of shape {tuple(vectors.shape)}"
            )
