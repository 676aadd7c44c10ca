"""Splitting evaluation passages the way ``densekit index`` does, so figures describe what users get.

A passage longer than a chunk is cut into overlapping chunks by the same chunker and default
settings as ingestion (``densekit.chunking.chunk_text``; chunk size ``chunking.default_chunk_tokens``:
the model's trained length, 128 tokens, or its maximum if shorter, less its two special tokens; 32
tokens of overlap). Each chunk keeps its passage as ``parent``; the runner scores a passage at the
rank of its best chunk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from ..chunking import chunk_text, default_chunk_tokens
from ..errors import InvalidInputError
from .datasets import Document

#: Tokens shared by neighbouring chunks: the default of ``densekit index --overlap``.
DEFAULT_OVERLAP = 32


@dataclass(frozen=True)
class ChunkSettings:
    """How passages are split: ``tokens`` per chunk (None = ``chunking.default_chunk_tokens``), ``overlap``;
    ``enabled=False`` indexes each passage whole (the model truncates a long one)."""

    tokens: int | None = None
    overlap: int = DEFAULT_OVERLAP
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.tokens is not None and (isinstance(self.tokens, bool) or not isinstance(self.tokens, int) or self.tokens < 1):
            raise InvalidInputError(f"chunk tokens must be a positive integer, got {self.tokens!r}")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, int) or self.overlap < 0:
            raise InvalidInputError(f"overlap must be an integer >= 0, got {self.overlap!r}")
        if self.tokens is not None and self.enabled and self.overlap >= self.tokens:
            raise InvalidInputError(f"overlap {self.overlap} must be smaller than the chunk size {self.tokens} tokens")


def chunk_tokens(encoder: Any, settings: ChunkSettings) -> int:
    """Tokens per chunk: the setting, else ``chunking.default_chunk_tokens`` (the rule of ``ingest``).

    Example:
        >>> chunk_tokens(minilm, ChunkSettings())
        126
    """
    if settings.tokens is not None:
        return settings.tokens
    return default_chunk_tokens(getattr(encoder, "max_seq_length", None))


@dataclass(frozen=True)
class Passage:
    """One indexed piece: a chunk of a corpus passage (or the whole passage), with its place in it."""

    id: str
    parent: str
    text: str
    start: int
    end: int


def split_passages(encoder: Any, documents: Sequence[Document], settings: ChunkSettings) -> list[Passage]:
    """Every corpus passage as indexed pieces: chunks ``ID#0``, ``ID#1``... (ingest's ids), or whole.

    Example:
        >>> [piece.id for piece in split_passages(minilm, [Document("a", long_text)], ChunkSettings())]
        ['a#0', 'a#1']
    """
    if not settings.enabled:
        return [Passage(document.id, document.id, document.text, 0, len(document.text)) for document in documents]
    limit = chunk_tokens(encoder, settings)
    overlap = min(settings.overlap, limit - 1)
    pieces: list[Passage] = []
    for document in documents:
        chunks = chunk_text(document.text, encoder.token_spans, limit, overlap)
        if not chunks:  # no model token at all (e.g. only control characters): index it whole
            pieces.append(Passage(f"{document.id}#0", document.id, document.text, 0, len(document.text)))
            continue
        pieces += [Passage(f"{document.id}#{chunk.index}", document.id, chunk.text, chunk.start, chunk.end)
                   for chunk in chunks]
    return pieces


def describe_split(encoder: Any, settings: ChunkSettings, passages: int, pieces: int) -> str:
    """One line for a result table saying how passages were split.

    Example:
        >>> describe_split(minilm, ChunkSettings(), 1471, 3409)
        'passages split as densekit index does: 126-token chunks, 32 overlap (1471 passages -> 7451 chunks)'
    """
    if not settings.enabled:
        return f"passages indexed whole (--no-chunk): {passages} passages, the model truncates long ones"
    origin = "as densekit index does" if settings.tokens is None and settings.overlap == DEFAULT_OVERLAP else "with"
    limit = chunk_tokens(encoder, settings)
    return (f"passages split {origin}: {limit}-token chunks, {min(settings.overlap, limit - 1)} overlap "
            f"({passages} passages -> {pieces} chunks)")
