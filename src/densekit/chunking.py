"""Token-aware splitting with overlap, so each chunk fits the model and keeps its place in the source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from .errors import InvalidInputError

#: Input length, in tokens with the two special ones, that sentence-transformers' all-* models (all-MiniLM-L6-v2,
#: all-mpnet-base-v2) were fine-tuned on: their model cards say "the sequence length was limited to 128 tokens",
#: although they accept 256 / 384. Longer chunks are embedded outside what the model learned (one vector
#: averages more topics) and dense retrieval suffers (docs/retrieval.md: Quoref dense 0.50 at 254 tokens).
TRAINED_TOKENS = 128
#: [CLS] and [SEP] (or <s> and </s>) take two places of a model's input.
SPECIAL_TOKENS = 2
#: The input length assumed for a model that does not state one.
FALLBACK_MAX_LENGTH = 256

# Sentence ends we prefer to cut after, when one falls in the last quarter of a window.
_SENTENCE_END = (".", "!", "?", "\n")
#: Characters tokenised at once: bounds the memory for any single text (see ``chunk_stream``).
WINDOW_CHARS = 65_536


def max_chunk_tokens(max_seq_length: int | None) -> int:
    """The longest chunk a model embeds whole: its maximum input length less the special tokens.

    Example:
        >>> max_chunk_tokens(256)
        254
    """
    return max(8, (max_seq_length or FALLBACK_MAX_LENGTH) - SPECIAL_TOKENS)


def default_chunk_tokens(max_seq_length: int | None) -> int:
    """Tokens per chunk when the caller names none (``densekit index`` and ``densekit eval`` alike):
    the trained length (``TRAINED_TOKENS``) or the model's maximum if shorter, less the special tokens.

    Example:
        >>> default_chunk_tokens(256), default_chunk_tokens(384), default_chunk_tokens(77)
        (126, 126, 75)
    """
    return min(max_chunk_tokens(max_seq_length), max(8, TRAINED_TOKENS - SPECIAL_TOKENS))


def model_chunk_limit(encoder) -> int:
    """Most tokens per chunk for an encoder (``--max-tokens`` may ask up to this): its maximum
    sequence length less the special tokens.

    Example:
        >>> model_chunk_limit(minilm)  # max_seq_length 256
        254
    """
    return max_chunk_tokens(getattr(encoder, "max_seq_length", None))


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
        max_tokens: most tokens per chunk (callers use ``default_chunk_tokens``).
        overlap: tokens repeated at the start of the next chunk so no sentence is cut off from context
            (default: a quarter of ``max_tokens``, at most 32).
    Returns:
        Chunks in order; ``text[chunk.start:chunk.end] == chunk.text``.
    Example:
        >>> [c.text for c in chunk_text("a b c d e", lambda t: [(i, i + 1) for i in range(0, 9, 2)], 3, 1)]
        ['a b c', 'c d e']
    """
    return list(chunk_stream([text], token_spans, max_tokens, overlap))


def chunk_stream(
    pieces: Iterable[str],
    token_spans: Callable[[str], list[tuple[int, int]]],
    max_tokens: int,
    overlap: int | None = None,
    window: int = WINDOW_CHARS,
) -> Iterator[Chunk]:
    """``chunk_text`` over a text given in consecutive pieces, in memory bounded by ``window``.

    The text is tokenised ``window`` characters at a time (cut after a whitespace where there is one
    in the window's second half), never whole: a tokenizer's offsets for a 50 MB line would take
    gigabytes. A window ends a chunk only when it holds fewer than ``max_tokens`` tokens, so no chunk
    spans more than ``window`` characters; otherwise the chunks are those of ``chunk_text`` over the
    whole text. Offsets are into the whole text (the concatenated pieces).
    """
    if max_tokens < 1:
        raise InvalidInputError(f"max_tokens must be >= 1, got {max_tokens}")
    if overlap is None:
        overlap = min(32, max_tokens // 4)
    if not 0 <= overlap < max_tokens:
        raise InvalidInputError(f"overlap must be in [0, max_tokens={max_tokens}), got {overlap}")
    source = (piece[start : start + window] for piece in pieces for start in range(0, len(piece), window))
    buffer, base, index, exhausted = "", 0, 0, False
    while True:
        while not exhausted and len(buffer) <= window:
            piece = next(source, None)
            if piece is None:
                exhausted = True
            else:
                buffer += piece
        final = exhausted and len(buffer) <= window
        cut = len(buffer) if final else _window_end(buffer, window)
        text = buffer[:cut]
        spans = token_spans(text)
        first = 0
        while first < len(spans):
            last = min(first + max_tokens, len(spans))  # exclusive
            if last < len(spans):
                last = _prefer_sentence_end(text, spans, first, last, overlap)
            elif not final and first > 0:
                break  # the rest is tokenised again with what follows the window
            start, end = spans[first][0], spans[last - 1][1]
            yield Chunk(text[start:end], base + start, base + end, index)
            index += 1
            if last >= len(spans):
                first = len(spans)
                break
            first = max(last - overlap, first + 1)
        if final:
            return
        # Continue from the first token not yet covered (overlap included), or after the window.
        resume = spans[first][0] if first < len(spans) and spans[first][0] > 0 else cut
        buffer, base = buffer[resume:], base + resume


def _window_end(buffer: str, window: int) -> int:
    """Where to end a window: just after the last whitespace in its second half, else at ``window``."""
    for position in range(window, window // 2, -1):
        if buffer[position - 1].isspace():
            return position
    return window


def _prefer_sentence_end(text: str, spans, first: int, last: int, overlap: int) -> int:
    """Move the cut back to just after a sentence end in the window's last quarter, if there is one."""
    window = last - first
    earliest = max(first + overlap + 1, last - window // 4)
    for cut in range(last, earliest - 1, -1):
        token_end = spans[cut - 1][1]
        if text[spans[cut - 1][0] : token_end].endswith(_SENTENCE_END):
            return cut
    return last
