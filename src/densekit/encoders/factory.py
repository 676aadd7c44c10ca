"""One factory for text encoders, keyed by a model reference and a backend name.

Adding a backend is one line in ``BACKENDS``: a builder taking the model reference.
"""

from __future__ import annotations

import logging
from typing import Callable

from .. import config
from ..errors import InvalidInputError
from .base import Encoder


def _lazy(module: str, function: str, *arguments: object) -> Callable[[str], Encoder]:
    """A builder that imports its backend's module on first use (no torch at start-up)."""

    def build(reference: str) -> Encoder:
        import importlib

        target: object = importlib.import_module(module)
        for name in function.split("."):  # "Class.method" names a classmethod
            target = getattr(target, name)
        return target(reference, *arguments)  # type: ignore[operator]

    return build


#: backend name -> builder(reference) -> Encoder
BACKENDS: dict[str, Callable[[str], Encoder]] = {
    "torch": _lazy("densekit.encoders.sentence", "load_sentence_encoder"),
    "clip": _lazy("densekit.encoders.clip", "load_clip_encoder"),
    "dpr": _lazy("densekit.encoders.dual", "dpr_builder"),
    "st-dual": _lazy("densekit.encoders.dual", "sentence_dual_builder"),
    "onnx": _lazy("densekit.encoders.onnx", "load_onnx_encoder"),
    "onnx-int8": _lazy("densekit.encoders.onnx", "load_onnx_encoder", "int8"),
    "words": _lazy("densekit.encoders.word_average", "WordAverageEncoder.from_reference"),
}


def _hashing_encoder(reference: str) -> Encoder:
    from .hashing import HashingEncoder

    _, _, size = reference.partition(":")
    if not size:
        return HashingEncoder()
    if not size.isdigit():
        raise InvalidInputError(f"hashing encoder reference {reference!r}: expected 'hashing' or 'hashing:DIM' with DIM an integer")
    return HashingEncoder(int(size))


_log = logging.getLogger(__name__)


def load_encoder(reference: str | None = None, backend: str | None = "torch") -> Encoder:
    """Build the text encoder for a model reference.

    Args:
        reference: a model name or path (see ``models.resolve_model``); ``hashing`` or
            ``hashing:DIM`` for the model-free test encoder; None for the configured default
            (``DENSEKIT_MODEL``, else all-mpnet-base-v2).
        backend: one of ``BACKENDS`` ("torch"); ignored by the hashing encoder. None picks the
            default for the model (``defaults.default_backend``: DENSEKIT_BACKEND, else "onnx-int8"
            for sentence-transformers text models the ONNX backend reproduces, else "torch"); should
            that ONNX export fail for a model, the torch backend is used instead (with a logged warning).

    Returns:
        An Encoder; sentence-transformers models are shared per process.

    Example:
        >>> load_encoder("hashing:16").dimension
        16
    """
    if backend is None:
        return _load_default(reference)
    if reference is None:
        if backend in ("torch", "onnx", "onnx-int8"):
            reference = config.default_text_model()
        else:  # other families (clip, dpr, ...) have their own default model
            return BACKENDS[backend](None) if backend in BACKENDS else _unknown_backend(backend)
    if reference == "hashing" or reference.startswith("hashing:"):
        return _hashing_encoder(reference)
    if reference.startswith("words:"):  # sentence vectors from word vectors, whatever backend was named
        backend = "words"
    if backend not in BACKENDS:
        _unknown_backend(backend)
    return BACKENDS[backend](reference)


def _load_default(reference: str | None) -> Encoder:
    from .defaults import PORTABLE_BACKEND, backend_override, default_backend

    backend = default_backend(reference, fetch=True)
    if backend == PORTABLE_BACKEND or backend_override() is not None:
        return load_encoder(reference, backend=backend)  # the user's (or the portable) choice: no fallback
    try:
        return load_encoder(reference, backend=backend)
    except Exception as error:  # noqa: BLE001 - any export failure; the default must not break what torch runs
        _log.warning("backend %r failed for model %r (%s: %s); using backend %r",
                     backend, reference, type(error).__name__, error, PORTABLE_BACKEND)
        return load_encoder(reference, backend=PORTABLE_BACKEND)


def _unknown_backend(backend: str):
    raise InvalidInputError(f"unknown encoder backend {backend!r}; valid: {', '.join(sorted(BACKENDS))}")
