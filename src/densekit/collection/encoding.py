"""What every store shares about encoding: which encoder serves each space, and encoding items and
queries into a space's vectors."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..encoders.base import Encoder
from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .items import Item
from .space import VectorSpace


class SpaceEncoders:
    """Mixin for a collection with ``spaces: dict[str, VectorSpace]`` and ``_encoders: dict[str, Encoder]``."""

    spaces: dict[str, VectorSpace]
    _encoders: dict[str, Encoder]
    #: Accept an encoder of another backend (same model and dimension) than a space was built with,
    #: with a logged warning; ``open(..., allow_backend_mismatch=True)`` sets it.
    allow_backend_mismatch: bool = False
    _models = None

    @property
    def models(self):
        """Who loads this collection's encoders and rerankers (``densekit.loaded_models.Models``):
        the one given at open, else the library's shared default."""
        if self._models is None:
            from ..loaded_models import default_models

            return default_models()
        return self._models

    @models.setter
    def models(self, models) -> None:
        self._models = models

    def space(self, name: str = "text") -> VectorSpace:
        """The vector space called ``name`` (InvalidInputError naming the spaces there are)."""
        if name not in self.spaces:
            raise InvalidInputError(f"no space {name!r} in this collection; spaces: {', '.join(self.spaces) or 'none'}")
        return self.spaces[name]

    def encoder(self, space: str = "text") -> Encoder:
        """The encoder of a space: the one given at open, else rebuilt from the manifest."""
        self.space(space)
        if space not in self._encoders:
            self._use_encoder(space, None, None)
        return self._encoders[space]

    def set_encoder(self, space: str, encoder: Encoder) -> None:
        """Serve ``space`` with an already loaded encoder (e.g. a server's shared copy); it must be
        the model (and backend, unless ``allow_backend_mismatch``) the space was built with."""
        self.space(space)
        self._use_encoder(space, None, encoder)

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
        info = self.space(space).encoder_info
        if backend == info.get("backend", "torch"):
            return
        if not self.allow_backend_mismatch:
            self.check_backend(backend, space)  # raises ModelMismatchError before any model is loaded
        self._use_encoder(space, None, self.models.encoder(info["model"], backend))

    def _use_encoder(self, space: str, model: str | None, encoder: Encoder | None) -> None:
        info = self.spaces[space].encoder_info
        if encoder is None:
            if model is not None and _canonical(model) != info["model"]:
                self.spaces[space].check_encoder({**info, "model": model})
            encoder = self.models.encoder(info["model"], info.get("backend", "torch"))
        self.spaces[space].check_encoder(encoder.info().as_dict(), self.allow_backend_mismatch)
        self._encoders[space] = encoder

    def encode_queries(self, texts: list[str], space: str = "text") -> np.ndarray:
        """Query vectors for ``space``: asymmetric encoders (DPR question/context, CLIP text/image)
        encode queries their own way."""
        return np.asarray(self.encoder(space).encode_queries(texts), dtype=np.float32)

    def encode_items(
        self,
        items: list[Item],
        *,
        vectors: dict[str, np.ndarray] | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> dict[str, np.ndarray]:
        """Vectors for items in every space (given ones are checked and kept), without storing anything."""
        from ..metadata import check_metadata, is_plain

        for item in items:  # every store's writes pass here before storing anything
            if not is_plain(item.metadata):  # the item's name made only then (twice per chunk in an index run)
                check_metadata(item.metadata, f"item {item.id!r}")
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


def describe_spaces(spaces: dict[str, VectorSpace], vectors: dict[str, int], index_kinds: dict[str, str]) -> dict[str, Any]:
    """The ``spaces`` part of ``info()``: the same keys for every store."""
    return {
        name: {
            "model": space.encoder_info["model"],
            "dimension": space.dimension,
            "backend": space.encoder_info.get("backend"),
            "kind": space.kind,
            "index": index_kinds[name],
            "vectors": int(vectors[name]),
        }
        for name, space in spaces.items()
    }
