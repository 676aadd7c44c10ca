"""Cross-encoder reranking: read query and passage together and score how well they match.

A cross-encoder is far slower than comparing vectors (one model call per pair) but sees word
interactions that a bi-encoder's single vector loses, so it reorders the top few dozen hits.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import InvalidInputError
from .progress import ProgressCallback, report

DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"


class CrossEncoderReranker:
    """Scores (query, text) pairs with a sentence-transformers CrossEncoder.

    Args:
        model_reference: a path, hub name or known name; resolved offline-first by
            ``densekit.models.resolve_model``.
        batch_size: pairs per model call.
        max_length: longest pair in tokens (longer pairs are truncated); None keeps the model's own.

    Example:
        >>> reranker = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2")
        >>> reranker.rerank("who wrote Hamlet", ["Shakespeare wrote Hamlet.", "Paris is in France."])
        array([ 8.6, -11.2], dtype=float32)
    """

    def __init__(self, model_reference: str = DEFAULT_RERANKER, batch_size: int = 32, max_length: int | None = 512):
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        from sentence_transformers import CrossEncoder

        from .models import resolve_model

        self.model_reference = model_reference
        self.folder = resolve_model(model_reference, role="reranker")
        self.batch_size = batch_size
        self._model = CrossEncoder(str(self.folder), max_length=max_length, device="cpu")
        labels = self._model.num_labels if hasattr(self._model, "num_labels") else 1
        if labels != 1:
            raise InvalidInputError(
                f"{model_reference!r} is a cross-encoder with {labels} labels; reranking needs a "
                "relevance model with 1 output (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2)"
            )

    def rerank(
        self, query: str, texts: Sequence[str], progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Relevance of each text to the query; higher is better (the model's raw scale).

        Args:
            query: the question or search text.
            texts: candidate passages, typically a first-stage retriever's top hits.
            progress: called as ``progress(done, total)`` after each batch.
        Returns:
            float32 array, one score per text, in the order given (sort it to rerank).

        Example:
            >>> order = np.argsort(-reranker.rerank("red fox", hits))
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError(f"query must be a non-empty string, got {query!r}")
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a list of strings, got a single string; wrap it in a list")
        items = list(texts)
        for position, text in enumerate(items):
            if not isinstance(text, str):
                raise InvalidInputError(f"text {position} is {type(text).__name__}; expected a string")
        scores = np.zeros(len(items), dtype=np.float32)
        report(progress, 0, len(items))
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            predicted = self._model.predict(
                [(query, text) for text in batch], batch_size=self.batch_size, show_progress_bar=False
            )
            scores[start : start + len(batch)] = np.asarray(predicted, dtype=np.float32).reshape(-1)
            report(progress, start + len(batch), len(items))
        return scores
