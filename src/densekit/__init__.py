"""densekit: an offline-first dense-embedding engine.

Everything a user needs is importable from here; heavy libraries load on first use.

    >>> import densekit
    >>> densekit.most_similar("insects rebelled", ["bees mutinied", "it rained"])[0].text
    'bees mutinied'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module; resolved lazily so `import densekit` does not import torch or faiss.
_EXPORTS = {
    "Collection": "densekit.collection",
    "Hit": "densekit.collection",
    "Item": "densekit.collection",
    "IdPage": "densekit.collection",
    "check_collection": "densekit.collection.check",
    "repair_collection": "densekit.collection.check",
    "Models": "densekit.loaded_models",
    "default_models": "densekit.loaded_models",
    "ingest": "densekit.ingest",
    "Encoder": "densekit.encoders.base",
    "HashingEncoder": "densekit.encoders.hashing",
    "load_encoder": "densekit.encoders.factory",
    "resolve_model": "densekit.models",
    "known_models": "densekit.models",
    "similarity": "densekit.pipelines.similarity",
    "most_similar": "densekit.pipelines.similarity",
    "SparseIndex": "densekit.sparse",
    "CrossEncoderReranker": "densekit.rerank",
    "match": "densekit.images.match",
    "MatchResult": "densekit.images.match",
    "ClipEncoder": "densekit.encoders.clip",
    "index_images": "densekit.images.indexing",
    "load_image": "densekit.images.loading",
    "ImageLoadError": "densekit.images.loading",
    "DensekitError": "densekit.errors",
    "InvalidInputError": "densekit.errors",
    "CollectionError": "densekit.errors",
    "ModelNotFoundError": "densekit.errors",
    "ModelMismatchError": "densekit.errors",
    "CollectionLockedError": "densekit.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'densekit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only; `X as X` marks a re-export
    from .collection import Collection as Collection, Hit as Hit, Item as Item
    from .collection.check import check_collection as check_collection
    from .encoders.base import Encoder as Encoder
    from .encoders.clip import ClipEncoder as ClipEncoder
    from .encoders.factory import load_encoder as load_encoder
    from .encoders.hashing import HashingEncoder as HashingEncoder
    from .errors import (
        CollectionError as CollectionError,
        CollectionLockedError as CollectionLockedError,
        DensekitError as DensekitError,
        InvalidInputError as InvalidInputError,
        ModelMismatchError as ModelMismatchError,
        ModelNotFoundError as ModelNotFoundError,
    )
    from .images.indexing import index_images as index_images
    from .images.loading import ImageLoadError as ImageLoadError, load_image as load_image
    from .images.match import MatchResult as MatchResult, match as match
    from .ingest import ingest as ingest
    from .models import known_models as known_models, resolve_model as resolve_model
    from .pipelines.similarity import most_similar as most_similar, similarity as similarity
    from .rerank import CrossEncoderReranker as CrossEncoderReranker
    from .sparse import SparseIndex as SparseIndex
