"""Pairwise similarity and "which of these is most similar" over one text encoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from ..encoders.base import Encoder, check_texts
from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..loaded_models import Models


@dataclass(frozen=True)
class Ranked:
    index: int
    text: str
    score: float


def _encoder(model: str | None, encoder: Encoder | None, models: "Models | None") -> Encoder:
    """The given encoder, else the model's default backend (the one ``densekit index`` uses),
    shared through ``models`` (default: the library's ``default_models()``)."""
    if encoder is not None:
        return encoder
    from ..loaded_models import default_models

    return (models if models is not None else default_models()).encoder(model)


def similarity(
    texts: Sequence[str], model: str | None = None, *, encoder: Encoder | None = None, models: "Models | None" = None
) -> np.ndarray:
    """Cosine similarity of every pair of texts, an (n, n) float32 matrix.

    The model is encoded with its default backend (``encoders.defaults.default_backend``), as
    ``densekit index`` and ``densekit similar`` do, unless ``encoder`` is given.

    Example:
        >>> similarity(["a cat", "a kitten", "stock prices"], model="all-MiniLM-L6-v2").round(2)
    """
    vectors = _encoder(model, encoder, models).encode(check_texts(texts))
    return vectors @ vectors.T


def most_similar(
    query: str,
    candidates: Sequence[str],
    model: str | None = None,
    *,
    k: int | None = None,
    encoder: Encoder | None = None,
    models: "Models | None" = None,
) -> list[Ranked]:
    """Candidates ranked by cosine similarity to ``query``, best first (all of them unless ``k``).

    Example:
        >>> most_similar("insects rebelled", ["bees mutinied", "it rained"], model="all-MiniLM-L6-v2")[0].text
        'bees mutinied'
    """
    candidates = check_texts(candidates)
    if not candidates:
        raise InvalidInputError("most_similar needs at least one candidate")
    if k is not None and (not isinstance(k, int) or k < 1):
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    vectors = _encoder(model, encoder, models).encode([*check_texts([query]), *candidates])
    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores, kind="stable")[: k or len(candidates)]
    return [Ranked(int(i), candidates[i], float(scores[i])) for i in order]
