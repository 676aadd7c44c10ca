"""The one list of encoder backends: each name, how to build it, and what it can do.

Everything else asks this module: ``load_encoder`` builds through it, ``defaults.default_backend``
picks among the default-eligible entries, the CLI's help and choices come from ``backend_names`` /
``backend_help``, and the server asks ``capabilities(name).batchable`` whether requests may share
one model call. Adding a backend is one ``register(Backend(...))``.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from typing import Callable, Iterator, MutableMapping, Optional

from ..errors import InvalidInputError
from .base import Encoder

#: builder(reference) -> Encoder; reference None means the backend's own default model.
Builder = Callable[[Optional[str]], Encoder]


@dataclass(frozen=True)
class Backend:
    """One way of turning a model reference into an Encoder.

    Attributes:
        name: what manifests, ``--backend`` and DENSEKIT_BACKEND call it.
        build: the builder (imports its heavy modules on first use).
        summary: one line for help texts.
        modalities: what ``encode_items`` accepts: ("text",) or ("text", "image").
        sides: "symmetric" (queries and items encoded alike) or "question-passage" (two towers).
        batchable: callers' texts may be merged into one model call (the server's batching queue);
            False: one caller at a time, behind a lock.
        default_eligible: ``default_backend`` may pick it for a new space.
        text_model: encodes a sentence-transformers text model; DENSEKIT_BACKEND may name it, and a
            missing reference means the default text model (``config.default_text_model``).
        onnx_precision: the ``onnx_export`` precision it loads ("fp32", "int8", "int8-row"), or None.
    """

    name: str
    build: Builder
    summary: str
    modalities: tuple[str, ...] = ("text",)
    sides: str = "symmetric"
    batchable: bool = False
    default_eligible: bool = False
    text_model: bool = False
    onnx_precision: str | None = None


def lazy(module: str, function: str, *arguments: object) -> Builder:
    """A builder that imports ``module`` on first use (no torch at start-up) and calls ``function``
    (``"Class.method"`` names a classmethod) with the reference and ``arguments``."""

    def build(reference: str | None) -> Encoder:
        target: object = importlib.import_module(module)
        for name in function.split("."):
            target = getattr(target, name)
        return target(reference, *arguments)  # type: ignore[operator]

    return build


def _hashing(reference: str | None) -> Encoder:
    from .hashing import HashingEncoder

    _, _, size = (reference or "hashing").partition(":")
    if not size:
        return HashingEncoder()
    if not size.isdigit():
        raise InvalidInputError(
            f"hashing encoder reference {reference!r}: expected 'hashing' or 'hashing:DIM' with DIM an integer"
        )
    return HashingEncoder(int(size))


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add (or replace) a backend; returns it."""
    BACKENDS[backend.name] = backend
    return backend


def capabilities(name: str) -> Backend:
    """The registry entry for ``name``.

    Raises:
        InvalidInputError: naming ``name`` and the valid backends.

    Example:
        >>> capabilities("onnx-int8-row").default_eligible
        True
    """
    entry = BACKENDS.get(name)
    if entry is None:
        raise InvalidInputError(f"unknown encoder backend {name!r}; valid: {', '.join(backend_names())}")
    return entry


def backend_names(*, text_model: bool | None = None) -> list[str]:
    """Registered backend names in registration order (the reference first, the older int8 last);
    ``text_model=True`` keeps those for sentence-transformers text models.

    Example:
        >>> backend_names(text_model=True)
        ['torch', 'onnx', 'onnx-int8-row', 'onnx-int8']
    """
    return [name for name, entry in BACKENDS.items() if text_model is None or entry.text_model == text_model]


def backend_help(*, text_model: bool | None = None) -> str:
    """``name (summary); ...`` for a ``--backend`` option's help text."""
    return "; ".join(f"{name} ({BACKENDS[name].summary})" for name in backend_names(text_model=text_model))


class BuilderView(MutableMapping[str, Builder]):
    """The registry seen as ``name -> builder`` (``factory.BACKENDS``, kept for older callers).

    Setting a name replaces the builder of an existing entry and keeps its capabilities; a new name
    gets a plain text backend's.
    """

    def __getitem__(self, name: str) -> Builder:
        return BACKENDS[name].build

    def __setitem__(self, name: str, build: Builder) -> None:
        existing = BACKENDS.get(name)
        register(dataclasses.replace(existing, build=build) if existing else Backend(name, build, name))

    def __delitem__(self, name: str) -> None:
        del BACKENDS[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(BACKENDS))

    def __len__(self) -> int:
        return len(BACKENDS)


builders = BuilderView()


for _entry in (
    Backend("torch", lazy("densekit.encoders.sentence", "load_sentence_encoder"),
            "sentence-transformers in PyTorch, fp32: the reference vectors",
            batchable=True, default_eligible=True, text_model=True),
    Backend("onnx", lazy("densekit.encoders.onnx", "load_onnx_encoder"),
            "ONNX Runtime fp32; matches torch at cosine >= 0.9999",
            batchable=True, text_model=True, onnx_precision="fp32"),
    Backend("onnx-int8-row", lazy("densekit.encoders.onnx", "load_onnx_encoder", "int8-row"),
            "ONNX Runtime int8, per-token scales: fast, and a text's vector never depends on its batch",
            batchable=True, default_eligible=True, text_model=True, onnx_precision="int8-row"),
    Backend("onnx-int8", lazy("densekit.encoders.onnx", "load_onnx_encoder", "int8"),
            "ONNX Runtime dynamic int8 (older default; vectors depend on batch-mates), kept for existing spaces",
            batchable=True, text_model=True, onnx_precision="int8"),
    Backend("hashing", _hashing, "model-free hashed bag of words, for tests", batchable=True),
    Backend("words", lazy("densekit.encoders.word_average", "WordAverageEncoder.from_reference"),
            "average of word vectors (words:NAME)"),
    Backend("clip", lazy("densekit.encoders.clip", "load_clip_encoder"),
            "CLIP image-text model", modalities=("text", "image")),
    Backend("dpr", lazy("densekit.encoders.dual", "dpr_builder"),
            "DPR question and context encoders", sides="question-passage"),
    Backend("st-dual", lazy("densekit.encoders.dual", "sentence_dual_builder"),
            "a trained or prompted sentence-transformers retriever pair", sides="question-passage"),
):
    register(_entry)
