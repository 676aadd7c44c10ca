"""One factory for text encoders, keyed by a model reference and a backend name.

Adding a backend is one line in ``BACKENDS``: a builder taking the model reference.
"""

from __future__ import annotations

from typing import Callable

from .. import config
from ..errors import InvalidInputError
from .base import Encoder


def _torch_builder(reference: str) -> Encoder:
    from .sentence import load_sentence_encoder

    return load_sentence_encoder(reference)


#: backend name -> builder(reference) -> Encoder
BACKENDS: dict[str, Callable[[str], Encoder]] = {
    "torch": _torch_builder,
    "clip": lambda reference: __import__("densekit.encoders.clip", fromlist=["clip"]).load_clip_encoder(reference),
    "dpr": lambda reference: __import__("densekit.encoders.dual", fromlist=["dual"]).dpr_builder(reference),
    "st-dual": lambda reference: __import__("densekit.encoders.dual", fromlist=["dual"]).sentence_dual_builder(reference),
    "onnx": lambda reference: __import__("densekit.encoders.onnx", fromlist=["onnx"]).load_onnx_encoder(reference),
    "onnx-int8": lambda reference: __import__("densekit.encoders.onnx", fromlist=["onnx"]).load_onnx_encoder(reference, "int8"),
}


def _hashing_encoder(reference: str) -> Encoder:
    from .hashing import HashingEncoder

    _, _, size = reference.partition(":")
    if not size:
        return HashingEncoder()
    if not size.isdigit():
        raise InvalidInputError(f"hashing encoder reference {reference!r}: expected 'hashing' or 'hashing:DIM' with DIM an integer")
    return HashingEncoder(int(size))


def load_encoder(reference: str | None = None, backend: str = "torch") -> Encoder:
    """Build the text encoder for a model reference.

    Args:
        reference: a model name or path (see ``models.resolve_model``); ``hashing`` or
            ``hashing:DIM`` for the model-free test encoder; None for the configured default
            (``DENSEKIT_MODEL``, else all-mpnet-base-v2).
        backend: one of ``BACKENDS`` ("torch"); ignored by the hashing encoder.

    Returns:
        An Encoder; sentence-transformers models are shared per process.

    Example:
        >>> load_encoder("hashing:16").dimension
        16
    """
    reference = reference or config.default_text_model()
    if reference == "hashing" or reference.startswith("hashing:"):
        return _hashing_encoder(reference)
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown encoder backend {backend!r}; valid: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[backend](reference)
