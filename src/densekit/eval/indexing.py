"""Building the collection an evaluation searches: corpus passages, chunked as ``densekit index`` does.

Each passage is split by ``densekit.eval.passages`` (the ingest chunker and its defaults) into items
``ID#0``, ``ID#1``... whose ``parent`` is the passage id, so the runner can score passages by their
best chunk. With chunking off, each passage is one item under its own id (the model truncates it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import InvalidInputError
from ..progress import ProgressCallback, report
from .datasets import Document
from .passages import ChunkSettings, Passage, describe_split, split_passages

#: Items per encode-and-commit step while building: a killed build resumes from the last step.
DEFAULT_BUILD_BATCH = 256


@dataclass
class BuildReport:
    """What ``build_collection`` did: items added now, already present, truncated, seconds, and the split."""

    added: int = 0
    reused: int = 0
    truncated: int = 0
    max_length: int | None = None
    seconds: float = 0.0
    passages: int = 0
    chunks: int = 0
    split: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "reused": self.reused, "truncated": self.truncated,
                "max_length": self.max_length, "seconds": round(self.seconds, 3),
                "passages": self.passages, "chunks": self.chunks, "split": self.split}


def _count_truncated(encoder: Any, pieces: Sequence[Passage]) -> tuple[int, int | None]:
    # Only encoders that count tokens (sentence-transformers, ONNX) can tell; others report 0.
    maximum = getattr(encoder, "max_seq_length", None)
    count_tokens = getattr(encoder, "count_tokens", None)
    if not maximum or count_tokens is None:
        return 0, maximum
    return sum(1 for piece in pieces if count_tokens(piece.text) > maximum), maximum


def _present_ids(collection: Any, ids: list[str]) -> set[str]:
    # One query for all ids: reusing a big collection stays instant.
    return {item.id for item in collection.get(ids)}


def _items(pieces: Sequence[Passage], chunked: bool) -> list[Any]:
    from ..collection import Item

    if not chunked:
        return [Item(id=piece.id, text=piece.text) for piece in pieces]
    return [Item(id=piece.id, text=piece.text, metadata={"chunk": int(piece.id.rsplit("#", 1)[1])},
                 parent=piece.parent, start=piece.start, end=piece.end) for piece in pieces]


def build_collection(
    collection: Any,
    documents: Sequence[Document],
    batch_size: int | None = None,
    step: int = DEFAULT_BUILD_BATCH,
    progress: ProgressCallback | None = None,
    chunking: ChunkSettings | None = None,
) -> BuildReport:
    """Add every corpus passage not yet in ``collection``, split as ``densekit index`` splits it.

    Items already present (a reused or half-built collection) are skipped, so an interrupted build
    resumes where its last commit left it.

    Args:
        collection: a Collection opened for writing.
        documents: corpus rows, e.g. ``load_corpus(path).items``.
        batch_size: texts per model call (default: the encoder's own).
        step: items encoded and committed together.
        progress: ``progress(done, total)`` over all items (reused ones count as done).
        chunking: how to split passages (default ``ChunkSettings()``: as ``densekit index`` does);
            ``ChunkSettings(enabled=False)`` adds each passage whole under its own id.
    Returns:
        BuildReport (added, reused, truncated items, the model's max length, seconds, passages,
        chunks, and a one-line description of the split).

    Example:
        >>> with Collection.create("/tmp/quoref", model="all-MiniLM-L6-v2") as collection:
        ...     build_collection(collection, load_corpus("passages.jsonl").items).chunks
        3424
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise InvalidInputError(f"step must be a positive integer, got {step!r}")
    settings = chunking if chunking is not None else ChunkSettings()
    started = time.perf_counter()
    encoder = collection.encoder()
    pieces = split_passages(encoder, documents, settings)
    total = len(pieces)
    present = _present_ids(collection, [piece.id for piece in pieces])
    missing = [piece for piece in pieces if piece.id not in present]
    # Only items encoded now are counted, so reusing an index never tokenizes it again.
    truncated, maximum = _count_truncated(encoder, missing) if missing else (0, getattr(encoder, "max_seq_length", None))
    done = total - len(missing)
    report(progress, done, total)
    since = collection.generation
    for start in range(0, len(missing), step):
        batch = missing[start:start + step]

        def batch_progress(finished: int, _total: int | None, offset: int = done) -> None:
            report(progress, offset + finished, total)

        collection.add_items(_items(batch, settings.enabled), batch_size=batch_size, progress=batch_progress)
        collection.commit()
        done += len(batch)
        report(progress, done, total)
    if missing and since is not None:
        collection.merge_segments(since)  # one BM25 segment per table, as a `densekit index` run leaves it
    return BuildReport(added=len(missing), reused=total - len(missing), truncated=truncated, max_length=maximum,
                       seconds=time.perf_counter() - started, passages=len(documents), chunks=total,
                       split=describe_split(encoder, settings, len(documents), total))


def open_collection(folder: str | Path, model: str | None = None, encoder: Any = None) -> Any:
    """Open the collection at ``folder`` for writing, or create it when there is none.

    Args:
        folder: the collection folder (or a postgresql:// URL).
        model, encoder: the encoder a new collection is built with (default: densekit's default
            text model); for an existing one, when given, they must match the one it was built with.
    Returns:
        A Collection opened for writing (close it, or use it as a context manager).

    Example:
        >>> with open_collection("/tmp/quoref", model="all-MiniLM-L6-v2") as collection:
        ...     collection.count()
        3424
    """
    from ..collection import Collection
    from ..collection.registry import collection_exists, is_url

    # A folder or a postgresql:// URL (the PostgreSQL store); Collection.open/create dispatch on it.
    location = str(folder) if is_url(folder) else Path(folder).expanduser()
    if encoder is None and model is not None:
        from ..encoders.factory import load_encoder

        # Compare built encoders, not references: Collection.open(model="hashing") refuses a space
        # recorded as "hashing:64", though both name the same model.
        encoder = load_encoder(model)
    if collection_exists(location):
        return Collection.open(location, encoder=encoder)
    return Collection.create(location, encoder=encoder)
