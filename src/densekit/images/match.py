"""Matching images with captions: CLIP's image-by-caption score matrix and the best of each side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..encoders.base import check_texts
from ..errors import InvalidInputError
from ..progress import ProgressCallback

if TYPE_CHECKING:
    from ..encoders.clip import ClipEncoder


@dataclass
class MatchResult:
    """Scores of every image against every caption.

    ``scores[i, j]`` is CLIP's logit for image i and caption j: ``logit_scale * cosine``, the same
    numbers as ``CLIPModel(...).logits_per_image``; its transpose is ``logits_per_text``.
    """

    scores: np.ndarray  # (images, captions)
    images: list[str]  # a label per image: its path, or "image N"
    captions: list[str]
    logit_scale: float

    @property
    def logits_per_image(self) -> np.ndarray:
        return self.scores

    @property
    def logits_per_text(self) -> np.ndarray:
        return self.scores.T

    @property
    def cosines(self) -> np.ndarray:
        return self.scores / self.logit_scale

    @property
    def best_caption(self) -> list[int]:
        """For each image, the index of its best caption."""
        return [int(index) for index in self.scores.argmax(axis=1)]

    @property
    def best_image(self) -> list[int]:
        """For each caption, the index of its best image."""
        return [int(index) for index in self.scores.argmax(axis=0)]

    def probabilities(self) -> np.ndarray:
        """Softmax over the captions for each image (CLIP's zero-shot label probabilities)."""
        shifted = self.scores - self.scores.max(axis=1, keepdims=True)
        exponentials = np.exp(shifted)
        return exponentials / exponentials.sum(axis=1, keepdims=True)

    def as_dict(self) -> dict[str, Any]:
        probabilities = self.probabilities()
        return {
            "captions": self.captions,
            "logit_scale": round(self.logit_scale, 6),
            "images": [
                {
                    "image": label,
                    "best_caption": self.captions[best],
                    "scores": [
                        {
                            "caption": caption,
                            "score": round(float(self.scores[row, column]), 6),
                            "probability": round(float(probabilities[row, column]), 6),
                        }
                        for column, caption in enumerate(self.captions)
                    ],
                }
                for row, (label, best) in enumerate(zip(self.images, self.best_caption))
            ],
            "best_image_per_caption": [
                {"caption": caption, "image": self.images[best]} for caption, best in zip(self.captions, self.best_image)
            ],
        }


def _label(image: Any, position: int) -> str:
    return str(image) if isinstance(image, (str, Path)) else f"image {position}"


def match(
    images: Sequence[Any],
    captions: Sequence[str],
    model: "str | ClipEncoder | None" = None,
    *,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> MatchResult:
    """Score images against captions with CLIP; pick the best caption per image and image per caption.

    Args:
        images: file paths (opened safely), PIL images or numpy arrays.
        captions: non-empty strings.
        model: a ClipEncoder, or a CLIP model reference (default ``openai/clip-vit-base-patch32``).
        batch_size: images / captions per model call.
        progress: called as ``progress(done, total)`` while the images are encoded.

    Returns:
        MatchResult: ``scores`` (images x captions, = ``logits_per_image``), ``best_caption``,
        ``best_image``, ``probabilities()``.

    Example:
        >>> result = match(["cat.jpg"], ["a photo of a cat", "a rocket"])
        >>> result.captions[result.best_caption[0]]
        'a photo of a cat'
    """
    from ..encoders.clip import ClipEncoder

    captions = check_texts(captions)
    if not captions:
        raise InvalidInputError("match needs at least one caption")
    if isinstance(images, (str, Path)) or not isinstance(images, Sequence) or len(images) == 0:
        raise InvalidInputError(f"match needs a non-empty list of images, got {images!r:.60}")
    from ..loaded_models import default_models

    encoder = model if isinstance(model, ClipEncoder) else default_models().encoder(model, "clip")
    image_vectors = encoder.encode_images(images, batch_size=batch_size, progress=progress)
    text_vectors = encoder.encode_texts(captions, batch_size=batch_size)
    scale = encoder.logit_scale
    # float64 for the product: the scores are compared with the model's own float32 logits.
    scores = (image_vectors.astype(np.float64) @ text_vectors.astype(np.float64).T) * scale
    return MatchResult(
        scores=scores.astype(np.float32),
        images=[_label(image, position) for position, image in enumerate(images)],
        captions=captions,
        logit_scale=scale,
    )
