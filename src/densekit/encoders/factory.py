"""``load_encoder``: the one way a model reference and a backend name become an Encoder.

The backends themselves (builders and capabilities) live in ``registry``; the default backend for a
model is ``defaults.default_backend``'s decision.
"""

from __future__ import annotations

import logging

from .. import config
from .base import Encoder
from .registry import builders, capabilities

#: name -> builder(reference), a live view of ``registry.BACKENDS`` (kept for older callers).
BACKENDS = builders

_log = logging.getLogger(__name__)


def load_encoder(reference: str | None = None, backend: str | None = None) -> Encoder:
    """Build the encoder for a model reference.

    Args:
        reference: a model name or path (see ``models.resolve_model``); ``hashing`` or
            ``hashing:DIM`` for the model-free test encoder; ``words:NAME`` for averaged word
            vectors; None for the backend's default model (for text backends ``DENSEKIT_MODEL``,
            else all-mpnet-base-v2).
        backend: a name from ``registry.backend_names()``, or None (the default) for the backend
            ``defaults.default_backend`` picks for this model: DENSEKIT_BACKEND, else
            "onnx-int8-row" for sentence-transformers text models the ONNX backend reproduces,
            else "torch". Should that ONNX export fail for a model, torch is used instead (with a
            logged warning). An explicit backend never falls back.

    Returns:
        An Encoder.

    Raises:
        InvalidInputError: an unknown backend (naming the valid ones) or a malformed reference.

    Example:
        >>> load_encoder("hashing:16").dimension
        16
    """
    entry = None if backend is None else capabilities(backend)
    if reference is None and (entry is None or entry.text_model):
        reference = config.default_text_model()
    if reference is not None and (reference == "hashing" or reference.startswith("hashing:")):
        return capabilities("hashing").build(reference)  # model-free, whatever backend was named
    if reference is not None and reference.startswith("words:"):
        return capabilities("words").build(reference)
    if entry is None:
        return _load_default(reference)
    return entry.build(reference)


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


def prepare_backend(reference: str | None, backend: str | None = None, progress=None) -> str:
    """Build the one-time files a backend needs before loading it (the ONNX export and quantisation),
    reporting ``progress(step, steps)``; nothing for backends that need none.

    Args:
        reference: the model (None: the default text model); backend: None resolves as
            ``load_encoder`` does.

    Returns:
        The backend that was resolved.

    Example:
        >>> prepare_backend("all-MiniLM-L6-v2")  # exports once into DENSEKIT_HOME/onnx
        'onnx-int8-row'
    """
    from .defaults import default_backend

    reference = reference or config.default_text_model()
    resolved = backend or default_backend(reference, fetch=True)
    precision = capabilities(resolved).onnx_precision
    if precision is None or reference == "hashing" or reference.startswith(("hashing:", "words:")):
        return resolved
    from ..models import resolve_model
    from .onnx_export import onnx_model_path

    onnx_model_path(resolve_model(reference), reference, precision, progress)
    return resolved
