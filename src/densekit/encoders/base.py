"""The Encoder protocol: a backend implements ``encode_batch``; this base builds the rest.

The base validates input (naming the bad position), sorts by length so batches waste little work
on padding, restores the caller's order, L2-normalises and reports progress through a callback.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..progress import ProgressCallback, report


@dataclass(frozen=True)
class EncoderInfo:
    """What a collection's manifest records about the encoder that made a space."""

    model: str
    dimension: int
    backend: str = "torch"
    metric: str = "ip"
    normalized: bool = True
    kind: str = "text"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dimension": self.dimension,
            "backend": self.backend,
            "metric": self.metric,
            "normalized": self.normalized,
            "kind": self.kind,
            **({"extra": self.extra} if self.extra else {}),
        }


def check_texts(texts: Sequence[str]) -> list[str]:
    """Return texts as a list, or raise naming the first non-string or empty item."""
    if isinstance(texts, str):
        raise InvalidInputError("expected a list of strings, got a single string; wrap it in a list")
    items = list(texts)
    for position, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInputError(
                f"item {position} is {type(text).__name__} ({text!r:.40}); expected a non-empty string"
            )
        if not text.strip():
            raise InvalidInputError(f"item {position} is an empty string; expected a non-empty string")
    return items


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


def batches(order: list[int], lengths: list[int], size: int, cells: int | None) -> Iterator[list[int]]:
    """Consecutive runs of ``order`` (positions sorted longest first) of at most ``size`` texts and,
    when ``cells`` is set, at most ``cells`` attention cells (texts x the run's first, longest,
    length squared); a text longer than that alone still makes a batch.

    Example:
        >>> list(batches([0, 1, 2, 3], [300, 200, 10, 10], 32, 90_000))
        [[0], [1, 2], [3]]
    """
    start = 0
    while start < len(order):
        count = size
        if cells is not None:
            count = max(1, min(size, cells // max(1, lengths[order[start]]) ** 2))
        yield order[start : start + count]
        start += count


class Encoder(abc.ABC):
    """An encoder. Subclasses set ``model_name``/``dimension`` and implement ``encode_batch``.

    Callers ask the interface, never probe with ``hasattr``: ``encode_queries`` for search queries,
    ``encode_items`` for what a space stores (both ``encode`` unless a model has two sides or
    stores images), ``accepts`` for the kinds of item ``encode_items`` takes, ``sides`` for
    symmetric versus question/passage models.
    """

    model_name: str
    dimension: int
    backend: str = "torch"
    #: What ``encode_items`` takes: "text" (strings), and "image" for image-text models.
    accepts: frozenset[str] = frozenset({"text"})
    #: "symmetric" (queries and items encoded alike) or "question-passage" (two towers).
    sides: str = "symmetric"
    #: Longest input in tokens the model reads; longer texts are truncated by the model.
    max_seq_length: int | None = None
    default_batch_size: int = 32
    #: Most attention cells (texts x longest length squared) per model call, or None for a count of
    #: texts only. Set by encoders whose ``length`` counts model tokens: long texts then go in small
    #: batches whose attention scores stay in the CPU caches (see OnnxEncoder for the measurement).
    batch_cells: int | None = None

    @abc.abstractmethod
    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Encode one batch of validated texts into an (n, dimension) array, not yet normalised."""

    def length(self, text: str) -> int:
        """A cheap proxy for a text's cost, used to sort batches."""
        return len(text)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token, for token-aware chunking: by default each run
        of word characters and each other non-space character (``word_spans``)."""
        from .word_spans import word_spans

        return word_spans(text)

    def info(self) -> EncoderInfo:
        return EncoderInfo(model=self.model_name, dimension=self.dimension, backend=self.backend)

    def encode_queries(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Vectors for search queries, comparable with ``encode_items``' vectors (inner product).

        Symmetric models encode queries as anything else: this is ``encode``. Two-tower models
        (DPR, trained retrievers) use their question side; image-text models their text tower.

        Example:
            >>> encoder.encode_queries(["who wrote Dune?"]).shape
            (1, 384)
        """
        return self.encode(texts, batch_size=batch_size, progress=progress)

    def encode_items(
        self,
        items: Sequence[Any],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Vectors for what a space stores: texts here (``accepts`` says what else a model takes;
        image-text models read image items). This is ``encode`` for text encoders.

        Example:
            >>> encoder.encode_items(["Dune is a novel by Frank Herbert."]).shape
            (1, 384)
        """
        return self.encode(items, batch_size=batch_size, progress=progress)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Encode texts into a float32 array of shape (len(texts), dimension).

        Args:
            texts: non-empty strings.
            batch_size: texts per model call (default: the encoder's own).
            progress: called as ``progress(done, total)`` after each batch.
            normalize: L2-normalise each row, so inner product is cosine similarity.

        Example:
            >>> encoder.encode(["a cat", "a dog"]).shape
            (2, 384)
        """
        items = check_texts(texts)
        size = self.default_batch_size if batch_size is None else batch_size
        if size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {size}")
        output = np.zeros((len(items), self.dimension), dtype=np.float32)
        # Longest first: similar lengths share a batch (less padding) and the ETA is pessimistic early.
        lengths = [self.length(item) for item in items]
        order = sorted(range(len(items)), key=lambda i: -lengths[i])
        report(progress, 0, len(items))
        done = 0
        for chunk in batches(order, lengths, size, self.batch_cells):
            vectors = np.asarray(self.encode_batch([items[i] for i in chunk]), dtype=np.float32)
            if vectors.shape != (len(chunk), self.dimension):
                raise RuntimeError(
                    f"{type(self).__name__}.encode_batch returned shape {vectors.shape}, "
                    f"expected {(len(chunk), self.dimension)}"
                )
            output[chunk] = vectors
            done += len(chunk)
            report(progress, done, len(items))
        return l2_normalize(output) if normalize else output

    def encode_one(self, text: str, normalize: bool = True) -> np.ndarray:
        """Encode a single text into a (dimension,) vector."""
        return self.encode([text], normalize=normalize)[0]
