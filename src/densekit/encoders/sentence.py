"""Sentence Transformers models (all-mpnet-base-v2 by default) as a densekit Encoder.

The model folder comes from ``models.resolve_model``, so packaged, cached and hub models all load
the same way. Torch and sentence-transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..models import canonical_reference, resolve_model
from .base import Encoder
from .threads import configure_torch_threads

# (resolved folder, canonical reference) -> encoder; encoders of one folder share its model.


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' "Loading weights" tqdm bar: library code never prints."""
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()




def _load_model(path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    with quiet_transformers():
        return SentenceTransformer(str(path), device="cpu")


class SentenceEncoder(Encoder):
    """Encode texts with a sentence-transformers model on the CPU.

    Args:
        reference: a path, hub name or known short name (``all-MiniLM-L6-v2``); see ``resolve_model``.
        threads: torch intra-op threads (default: ``threads.default_threads()``, applied once).
        model: an already loaded ``SentenceTransformer`` to wrap instead of loading ``reference``.

    Example:
        >>> encoder = SentenceEncoder("all-MiniLM-L6-v2")
        >>> encoder.encode(["a cat sat"]).shape
        (1, 384)
    """

    backend = "torch"

    def __init__(self, reference: str, threads: int | None = None, model: Any = None):
        configure_torch_threads(threads)
        self.model_name = canonical_reference(reference)
        self.path: Path | None = None
        if model is None:
            self.path = resolve_model(reference)
            model = _load_model(self.path)
        self.model = model
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_seq_length = model.max_seq_length

    @property
    def tokenizer(self) -> Any:
        return self.model.tokenizer

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        # The base already sorted by length and chose the batch: one model call per batch.
        return self.model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=False,
            show_progress_bar=False,
        )

    def _tokenize(self, text: str) -> dict[str, Any]:
        # verbose=False: texts longer than the model's limit are expected here (chunking measures them).
        return self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token, special tokens excluded, without truncation.

        Example:
            >>> encoder.token_spans("Hello, world")
            [(0, 5), (5, 6), (7, 12)]
        """
        return [tuple(span) for span in self._tokenize(text)["offset_mapping"]]

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (special tokens excluded, no truncation)."""
        return len(self._tokenize(text)["input_ids"])


def load_sentence_encoder(reference: str, threads: int | None = None) -> SentenceEncoder:
    """A new SentenceEncoder for a model reference (the ``torch`` backend's builder).

    Nothing is cached here: one shared copy per process is ``loaded_models.Models``' job.

    Example:
        >>> load_sentence_encoder("all-MiniLM-L6-v2").dimension
        384
    """
    path = resolve_model(reference)
    encoder = SentenceEncoder(reference, threads=threads, model=_load_model(path))
    encoder.path = path
    return encoder
