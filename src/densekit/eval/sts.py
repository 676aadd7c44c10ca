"""Semantic textual similarity: Spearman correlation (x100) between cosine similarity and gold scores.

This is the STS-B figure model cards quote, computed the way sentence-transformers'
EmbeddingSimilarityEvaluator computes it (cosine of the two sentence vectors, Spearman against the
gold score), so the numbers can be compared directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .datasets import StsPair
from .metrics import spearman


@dataclass(frozen=True)
class StsResult:
    """Spearman and Pearson (both x100) over ``pairs`` sentence pairs, with the model and backend
    that made them (backends of one model give slightly different vectors)."""

    model: str
    pairs: int
    spearman: float
    pearson: float
    backend: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def cosine_scores(encoder: Encoder, pairs: Sequence[StsPair], batch_size: int | None = None,
                  progress: ProgressCallback | None = None) -> np.ndarray:
    """Cosine similarity of each pair's two sentences, float32 array of len(pairs).

    Each distinct sentence is encoded once (STS-B repeats many), so progress counts sentences.

    Example:
        >>> cosine_scores(encoder, [StsPair("A cat.", "A kitten.", 4.2)])
        array([0.79], dtype=float32)
    """
    sentences = list(dict.fromkeys(text for pair in pairs for text in (pair.sentence1, pair.sentence2)))
    row = {text: position for position, text in enumerate(sentences)}
    vectors = encoder.encode(sentences, batch_size=batch_size, progress=progress, normalize=True)
    first = vectors[[row[pair.sentence1] for pair in pairs]]
    second = vectors[[row[pair.sentence2] for pair in pairs]]
    return np.einsum("ij,ij->i", first, second).astype(np.float32)


def evaluate_sts(encoder: Encoder, pairs: Sequence[StsPair], batch_size: int | None = None,
                 progress: ProgressCallback | None = None) -> StsResult:
    """Score an encoder on STS pairs.

    Args:
        encoder: any densekit Encoder.
        pairs: StsPair items, e.g. ``load_sts(path).items``; at least 2.
        batch_size: sentences per model call (default: the encoder's own).
        progress: called as ``progress(done, total)`` over distinct sentences.
    Returns:
        StsResult with spearman and pearson x100.

    Example:
        >>> evaluate_sts(load_encoder("all-MiniLM-L6-v2"), load_sts("sts-dev.csv").items).spearman
        86.7
    """
    from scipy.stats import pearsonr

    items = list(pairs)
    if len(items) < 2:
        raise InvalidInputError(f"STS evaluation needs at least 2 sentence pairs, got {len(items)}")
    predicted = cosine_scores(encoder, items, batch_size=batch_size, progress=progress)
    gold = np.array([pair.score for pair in items], dtype=np.float64)
    return StsResult(
        model=encoder.model_name,
        pairs=len(items),
        spearman=100.0 * spearman(predicted, gold),
        pearson=100.0 * float(pearsonr(predicted.astype(np.float64), gold).statistic),
        backend=encoder.backend,
    )
