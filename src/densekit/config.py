"""One place that reads settings: explicit arguments > environment (DENSEKIT_*) > defaults."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TEXT_MODEL = "sentence-transformers/all-mpnet-base-v2"
# Below this many vectors a space is searched exactly; above it, HNSW (DESIGN.md "index").
DEFAULT_HNSW_THRESHOLD = 50_000


def home() -> Path:
    """The densekit cache folder (unpacked packaged models, exported ONNX models)."""
    value = os.environ.get("DENSEKIT_HOME")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "densekit"


def offline() -> bool:
    """True when hub downloads must not be attempted."""
    flags = (os.environ.get("DENSEKIT_OFFLINE"), os.environ.get("HF_HUB_OFFLINE"))
    return any(flag not in (None, "", "0", "false", "False") for flag in flags)


def default_text_model() -> str:
    return os.environ.get("DENSEKIT_MODEL") or DEFAULT_TEXT_MODEL


def hnsw_threshold() -> int:
    value = os.environ.get("DENSEKIT_HNSW_THRESHOLD")
    return int(value) if value else DEFAULT_HNSW_THRESHOLD


def torch_threads() -> int | None:
    """Torch intra-op threads; None leaves torch's own default (see encoders/threads.py)."""
    value = os.environ.get("DENSEKIT_THREADS")
    return int(value) if value else None
