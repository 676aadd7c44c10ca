"""Which encoder backend a new collection (or a one-off encoding command) gets when none is named.

The rule: the fastest backend whose vectors match fp32 quality and never depend on the batch.

- "onnx-int8-row" for a sentence-transformers text model that the ONNX exporter reproduces exactly
  (``modules.json``: a Transformer first, then only Pooling with a known mode and Normalize);
- "torch" for everything else: the hashing test encoder, word-vector averages (``words:``), CLIP and
  other image models, DPR and dual retrievers (``QUESTION+CONTEXT`` or a saved retriever folder),
  models with other modules (Dense, ...), a bare Hugging Face folder without ``modules.json``, a
  model that is not on this machine (unless ``fetch=True``), or onnxruntime / onnx missing (they are
  core dependencies, so only a broken install).
- ``DENSEKIT_BACKEND`` (any text-model backend of ``registry``: torch, onnx, onnx-int8-row,
  onnx-int8) overrides the rule.

Why "onnx-int8-row" (docs/encoders.md has the measurements): int8 matrix products with one
activation scale per token row, so a text's vector is the same alone or in any batch (cosine
>= 0.9999, where the older "onnx-int8", one scale per batch, gave 0.877 for mpnet); STS-B dev
Spearman within 0.2 of fp32 for all-MiniLM-L6-v2 and all-mpnet-base-v2; 2-3x plain
SentenceTransformer.encode on CPU. The first use exports the model once into the densekit cache.

The decision reads a few small JSON files (``modules.json``, the Pooling config), never the weights;
packaged zip pieces are read in place, without unpacking.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Callable

from .. import config
from ..errors import DensekitError, InvalidInputError
from .registry import backend_names

ENVIRONMENT_VARIABLE = "DENSEKIT_BACKEND"
#: The default for sentence-transformers text models the ONNX backend reproduces.
FAST_BACKEND = "onnx-int8-row"
#: The default for every other model, and the fallback when an ONNX export fails.
PORTABLE_BACKEND = "torch"
#: Reads one JSON file by its path inside a model folder; None when absent or unreadable.
JsonReader = Callable[[str], Any]


def backend_override() -> str | None:
    """The backend DENSEKIT_BACKEND names, or None when it is unset or empty.

    Raises:
        InvalidInputError: the variable names no text-model backend (naming the valid ones).

    Example:
        >>> os.environ["DENSEKIT_BACKEND"] = "torch"; backend_override()
        'torch'
    """
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not value:
        return None
    valid = backend_names(text_model=True)
    if value not in valid:
        raise InvalidInputError(
            f"{ENVIRONMENT_VARIABLE}={value!r} is not a text encoder backend; valid: {', '.join(valid)}"
        )
    return value


def default_backend(model: str | None = None, *, fetch: bool = False) -> str:
    """The backend for a new space of ``model`` when the caller names none.

    Args:
        model: a model reference (name, path, ``hashing:DIM``, ...); None for the default text model.
        fetch: resolve the model first as loading it would (unpack packaged pieces, download from
            the hub unless offline), so a model not yet on this machine is judged too. Without it,
            only local files are read and a model not found here gets "torch".

    Returns:
        DENSEKIT_BACKEND when set; else "onnx-int8-row" when ``onnx_supports(model)``; else "torch".

    Example:
        >>> default_backend("all-MiniLM-L6-v2"), default_backend("hashing:64")
        ('onnx-int8-row', 'torch')
    """
    override = backend_override()
    if override is not None:
        return override
    return FAST_BACKEND if onnx_supports(model, fetch=fetch) else PORTABLE_BACKEND


@functools.cache
def onnx_available() -> bool:
    """True when onnxruntime and onnx are importable (checked without importing them, once per
    process: ``LoadedModels.encoder`` asks on every call, and a look-up walks sys.path, ~0.2 ms)."""
    return all(importlib.util.find_spec(module) is not None for module in ("onnxruntime", "onnx"))


def onnx_supports(model: str | None = None, *, fetch: bool = False) -> bool:
    """True when ``model`` is a sentence-transformers text model the ONNX backend reproduces, and
    onnxruntime is installed. See ``default_backend`` for ``fetch``.

    Example:
        >>> onnx_supports("all-MiniLM-L6-v2"), onnx_supports("words:glove-6b-50d")
        (True, False)
    """
    reference = model or config.default_text_model()
    if reference == "hashing" or reference.startswith(("hashing:", "words:")):
        return False
    if not onnx_available():
        return False
    reader = _model_reader(reference, fetch)
    return reader is not None and exportable(reader)


def exportable(read: JsonReader) -> bool:
    """True when a model's sentence-transformers config is Transformer + Pooling (known mode) [+ Normalize],
    with no default prompt.

    Args:
        read: returns the parsed JSON of a file inside the model folder ("modules.json",
            "1_Pooling/config.json"), or None when it is absent.

    Example:
        >>> exportable(lambda name: [{"type": "sentence_transformers.models.Transformer", "path": ""}]
        ...            if name == "modules.json" else None)
        True
    """
    # The ONNX backend's own lists (imported here: encoders/onnx.py loads numpy, not needed before).
    from .onnx import SUPPORTED_MODULES as onnx_modules

    modules = read("modules.json")
    # No modules.json: a bare Hugging Face folder (DPR, CLIP, a reader, ...), not a sentence-transformers model.
    if not isinstance(modules, list) or not modules or not all(isinstance(module, dict) for module in modules):
        return False
    if _kind(modules[0]) != "Transformer":
        return False  # CLIPModel, a word-embedding model, ...
    settings = read("config_sentence_transformers.json")
    if isinstance(settings, dict) and settings.get("default_prompt_name"):
        return False  # sentence-transformers prepends that prompt; the ONNX backend does not
    for module in modules[1:]:
        kind = _kind(module)
        if kind not in onnx_modules or kind == "Transformer":
            return False  # Dense, LayerNorm, custom code: only torch reproduces them
        if kind == "Pooling" and not _known_pooling(read(_join(module.get("path", ""), "config.json"))):
            return False
    return True


def _kind(module: dict[str, Any]) -> str:
    return str(module.get("type", "")).rsplit(".", 1)[-1]


def _join(folder: str, name: str) -> str:
    return f"{folder.strip('/')}/{name}" if folder.strip("/") else name


def _known_pooling(pooling: Any) -> bool:
    from .onnx import LEGACY_POOLING_KEYS, POOLING_MODES

    if not isinstance(pooling, dict):
        return True  # no config: sentence-transformers pools by mean, which ONNX does too
    mode = pooling.get("pooling_mode")
    if mode is None:
        modes = [name for key, name in LEGACY_POOLING_KEYS.items() if pooling.get(key)]
    else:
        modes = [mode] if isinstance(mode, str) else list(mode)
    return bool(modes) and all(name in POOLING_MODES for name in modes)


def _model_reader(reference: str, fetch: bool) -> JsonReader | None:
    """A JSON reader over the model's files on this machine, or None when it is not here."""
    from .. import models

    if fetch:
        try:
            return _folder_reader(models.resolve_model(reference))
        except DensekitError:  # not found: loading reports it with every place tried
            return None
    info = models.model_info(reference)  # never unpacks, never downloads
    if info.found_at is None:
        return None
    if info.found_at.is_dir():
        return _folder_reader(info.found_at)
    pieces = models.find_mpnet_pieces(models.canonical_reference(reference))
    if pieces:  # packaged zip pieces, read in place
        return lambda name: models.read_packed_json(pieces, name)
    return None


def _folder_reader(folder: Path) -> JsonReader | None:
    if not folder.is_dir():
        return None

    def read(name: str) -> Any:
        try:
            return json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    return read
