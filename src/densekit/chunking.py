"""Token-aware splitting with overlap, so each chunk fits the model and keeps its place in the source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import InvalidInputError

# Sentence ends we prefer to cut after, when one falls in the last quarter of a window.
_SENTENCE_END = (".", "!", "?", "\n")


@dataclass(frozen=True)
class Chunk:
    """A piece of a source text: its text and character offsets in the source."""

    text: str
    start: int
    end: int
    index: int


def chunk_text(
    text: str,
    token_spans: Callable[[str], list[tuple[int, int]]],
    max_tokens: int,
    overlap: int | None = None,
) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``max_tokens`` model tokens, ``overlap`` tokens shared.

    Args:
        text: the source text.
        token_spans: gives the (start, end) characters of each model token (``Encoder.token_spans``).
        max_tokens: most tokens per chunk (the model's max sequence length less special tokens).
        overlap: tokens repeated at the start of the next chunk so no sentence is cut off from context
            (default: a quarter of ``max_tokens``, at most 32).
    Returns:
        Chunks in order; ``text[chunk.start:chunk.end] == chunk.text``.
    Example:
        >>> [c.text for c in chunk_text("a b c d e", lambda t: [(i, i + 1) for i in range(0, 9, 2)], 3, 1)]
        ['a b c', 'c d e']
    """
    if max_tokens < 1:
        raise InvalidInputError(f"max_tokens must be >= 1, got {max_tokens}")
    if overlap is None:
        overlap = min(32, max_tokens // 4)
    if not 0 <= overlap < max_tokens:
        raise InvalidInputError(f"overlap must be in [0, max_tokens={max_tokens}), got {overlap}")
    spans = token_spans(text)
    if not spans:
        return []
    if len(spans) <= max_tokens:
        start, end = spans[0][0], spans[-1][1]
        return [Chunk(text[start:end], start, end, 0)]
    chunks: list[Chunk] = []
    first = 0
    while first < len(spans):
        last = min(first + max_tokens, len(spans))  # exclusive
        if last < len(spans):
            last = _prefer_sentence_end(text, spans, first, last, overlap)
        start, end = spans[first][0], spans[last - 1][1]
        chunks.append(Chunk(text[start:end], start, end, len(chunks)))
        if last >= len(spans):
            break
        first = max(last - overlap, first + 1)
    return chunks


def _prefer_sentence_end(text: str, spans, first: int, last: int, overlap: int) -> int:
    """Move the cut back to just after a sentence end in the window's last quarter, if there is one."""
    window = last - first
    earliest = max(first + overlap + 1, last - window // 4)
    for cut in range(last, earliest - 1, -1):
        token_end = spans[cut - 1][1]
        if text[spans[cut - 1][0] : token_end].endswith(_SENTENCE_END):
            return cut
    return last
