"""What both stores share about encoding: which encoder serves each space, encoding items into every
space, validating texts, ids and metadata into Items, and upsert on top of each store's add_items."""

from __future__ import annotations

import uuid
from typing import Any, Sequence

import numpy as np

from ..encoders.base import Encoder, check_texts
from ..errors import InvalidInputError
from ..metadata import check_metadata as check_item_metadata, check_unicode
from ..progress import ProgressCallback
from .persistence import check_metadata
from .space import VectorSpace
from .store import Item


class SpaceEncoders:
    """Mixin for a collection with ``spaces: dict[str, VectorSpace]`` and ``_encoders: dict[str, Encoder]``."""

    spaces: dict[str, VectorSpace]
    _encoders: dict[str, Encoder]
    #: Accept an encoder of another backend (same model and dimension) than a space was built with,
    #: with a logged warning; ``open(..., allow_backend_mismatch=True)`` sets it.
    allow_backend_mismatch: bool = False

    def encoder(self, space: str = "text") -> Encoder:
        """The encoder of a space: the one given at open, else rebuilt from the manifest."""
        if space not in self.spaces:
            raise InvalidInputError(f"no space {space!r} in this collection; spaces: {', '.join(self.spaces)}")
        if space not in self._encoders:
            self._use_encoder(space, None, None)
        return self._encoders[space]

    def check_backend(self, backend: str, space: str = "text") -> None:
        """Refuse a backend other than the one that made the space's vectors (int8 and fp32 never mix),
        unless ``allow_backend_mismatch`` is set (then a warning is logged)."""
        if space in self.spaces:
            self.spaces[space].check_encoder({**self.spaces[space].encoder_info, "backend": backend},
                                             self.allow_backend_mismatch)

    def use_backend(self, backend: str, space: str = "text") -> None:
        """Encode ``space`` (queries and new items) with ``backend`` instead of the manifest's.

        The manifest's own backend is always accepted; another one (same model) only with
        ``allow_backend_mismatch``, else ModelMismatchError. The manifest keeps its backend.

        Example:
            >>> notes = Collection.open("notes", readonly=True, allow_backend_mismatch=True)
            >>> notes.use_backend("torch")  # an onnx-int8 space queried with torch fp32 vectors
        """
        if space not in self.spaces:
            raise InvalidInputError(f"no space {space!r} in this collection; spaces: {', '.join(self.spaces)}")
        info = self.spaces[space].encoder_info
        if backend == info.get("backend", "torch"):
            return
        if not self.allow_backend_mismatch:
            self.check_backend(backend, space)  # raises ModelMismatchError before any model is loaded
        from ..encoders.factory import load_encoder

        self._use_encoder(space, None, load_encoder(info["model"], backend=backend))

    def _use_encoder(self, space: str, model: str | None, encoder: Encoder | None) -> None:
        info = self.spaces[space].encoder_info
        if encoder is None:
            from ..encoders.factory import load_encoder

            if model is not None and _canonical(model) != info["model"]:
                self.spaces[space].check_encoder({**info, "model": model})
            encoder = load_encoder(info["model"], backend=info.get("backend", "torch"))
        self.spaces[space].check_encoder(encoder.info().as_dict(), self.allow_backend_mismatch)
        self._encoders[space] = encoder

    def upsert(
        self,
        texts: Sequence[str],
        ids: Sequence[str],
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Add texts, replacing any items that have the same ids (both stores: ``add_items(replace=True)``)."""
        if ids is None:
            raise InvalidInputError("upsert needs ids")
        items = make_items(texts, ids, metadata)
        self.add_items(items, batch_size=batch_size, progress=progress, replace=True)  # type: ignore[attr-defined]
        return [item.id for item in items]

    def encode_items(
        self,
        items: list[Item],
        *,
        vectors: dict[str, np.ndarray] | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, np.ndarray]:
        """Vectors for items in every space (given ones are checked and kept), without storing anything."""
        for item in items:  # both stores' add_items pass here before storing anything
            check_item_metadata(item.metadata, f"item {item.id!r}")
        encoded = {}
        for name, space in self.spaces.items():
            members = [item for item in items if item.kind == space.kind]
            if vectors is not None and name in vectors:
                given = np.asarray(vectors[name], dtype=np.float32)
                space.check_query(given)
                if given.shape[0] != len(members):
                    raise InvalidInputError(f"{given.shape[0]} vectors given for space {name!r}, expected {len(members)}")
                if not np.isfinite(given).all():
                    raise InvalidInputError(f"vectors given for space {name!r} contain NaN or infinity")
                encoded[name] = given
            elif members:
                encoded[name] = self._encode_members(name, members, batch_size, progress)
        return encoded

    def _encode_members(self, name: str, members: list[Item], batch_size, progress) -> np.ndarray:
        encoder = self.encoder(name)
        if self.spaces[name].kind == "text":
            return encoder.encode([item.text for item in members], batch_size=batch_size, progress=progress)
        return encoder.encode_items(members, batch_size=batch_size, progress=progress)


def _canonical(model: str) -> str:
    """The name a model is recorded under: short known names get their hub prefix."""
    from ..models import canonical_reference

    return "hashing:64" if model == "hashing" else canonical_reference(model)


def make_items(texts: Sequence[str], ids: Sequence[str] | None, metadata: Sequence[dict[str, Any]] | None) -> list[Item]:
    """Validated Items from parallel lists; ids default to random hex strings."""
    texts = check_texts(texts)
    if ids is None:
        ids = [uuid.uuid4().hex for _ in texts]
    ids = list(ids)
    if len(ids) != len(texts):
        raise InvalidInputError(f"got {len(ids)} ids for {len(texts)} texts; expected one id per text")
    for position, id_ in enumerate(ids):
        if not isinstance(id_, str) or not id_:
            raise InvalidInputError(f"id {position} is {id_!r}; expected a non-empty string")
        check_unicode(id_, f"id {position}")
    for position, text in enumerate(texts):
        check_unicode(text, f"text {position}")
    if len(set(ids)) != len(ids):
        duplicate = next(id_ for id_ in ids if ids.count(id_) > 1)
        raise InvalidInputError(f"id {duplicate!r} appears more than once in one call")
    return [Item(id_, text, meta) for id_, text, meta in zip(ids, texts, check_metadata(metadata, len(texts)))]
