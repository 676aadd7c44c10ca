"""``Models``: the one owner of loaded models (encoders, readers, rerankers) in a process.

Nothing else keeps models alive behind the caller's back: the encoders' builders return a new
object each call, and whoever wants one shared copy asks a ``Models``. The library uses
``default_models()``; the server creates its own (``server.models_cache.ModelCache`` adds request
batching on top) and passes it down. A model can be released, and a ``Models`` with ``max_models``
keeps at most that many, dropping the least recently used (a caller still holding one keeps using
it; it is freed when the last user lets go).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

#: (kind, reference, backend) for encoders; (kind, reference, None) for readers and rerankers.
Key = tuple[str, str, Any]


class Models:
    """Loaded models by (kind, reference, backend), each loaded once, least recently used dropped first.

    Args:
        max_models: most models kept loaded (None: no limit). The least recently used one is
            released when a new one would pass the limit.

    Example:
        >>> models = Models(max_models=2)
        >>> models.encoder("hashing:64") is models.encoder("hashing:64")
        True
        >>> models.release()
        1
    """

    def __init__(self, max_models: int | None = None):
        if max_models is not None and max_models < 1:
            from .errors import InvalidInputError

            raise InvalidInputError(f"max_models must be >= 1 (or None for no limit), got {max_models}")
        self.max_models = max_models
        self._loaded: "OrderedDict[Key, Any]" = OrderedDict()
        self._guard = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        #: Called with (key, model) for each model dropped past ``max_models`` or released.
        self.on_release: Callable[[Key, Any], None] | None = None

    # --- the kinds of model ----------------------------------------------------------------------

    def encoder(self, reference: str | None = None, backend: str | None = None) -> Any:
        """The shared encoder for a model and backend (None: the default backend for the model, as
        ``encoders.factory.load_encoder`` resolves it; None reference: the default text model)."""
        from . import config
        from .encoders.defaults import default_backend
        from .encoders.factory import load_encoder

        reference = reference or config.default_text_model()
        chosen = backend or default_backend(reference)
        # The default may fall back to torch when an export fails: keyed by what was asked for.
        return self.get(("encoder", reference, chosen), lambda: load_encoder(reference, backend=backend))

    def reader(self, reference: str | None = None) -> Any:
        """The shared extractive QA reader (None: ``DENSEKIT_READER``, else the default reader)."""
        from .pipelines.qa import default_reader_reference
        from .pipelines.reader import Reader

        reference = reference or default_reader_reference()
        return self.get(("reader", reference, None), lambda: Reader(reference))

    def reranker(self, reference: str | None = None) -> Any:
        """The shared cross-encoder reranker (None: cross-encoder/ms-marco-MiniLM-L-6-v2)."""
        from .rerank import DEFAULT_RERANKER, CrossEncoderReranker

        reference = reference or DEFAULT_RERANKER
        return self.get(("reranker", reference, None), lambda: CrossEncoderReranker(reference))

    # --- the cache -------------------------------------------------------------------------------

    def get(self, key: Key, build: Callable[[], Any]) -> Any:
        """The model under ``key``, built by ``build()`` the first time. Concurrent first uses of
        one key build it once; other keys load and serve meanwhile."""
        with self._guard:
            if key in self._loaded:
                self._loaded.move_to_end(key)
                return self._loaded[key]
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._loaded:
                    self._loaded.move_to_end(key)
                    return self._loaded[key]
            model = build()
            with self._guard:
                self._loaded[key] = model
                dropped = self._over_limit()
            for old_key, old_model in dropped:
                self._released(old_key, old_model)
            return model

    def _over_limit(self) -> list[tuple[Key, Any]]:
        dropped = []
        while self.max_models is not None and len(self._loaded) > self.max_models:
            dropped.append(self._loaded.popitem(last=False))
        return dropped

    def _released(self, key: Key, model: Any) -> None:
        if self.on_release is not None:
            self.on_release(key, model)

    def release(self, reference: str | None = None, *, kind: str | None = None, backend: str | None = None) -> int:
        """Drop loaded models: all of them, or those matching ``reference`` / ``kind`` / ``backend``.

        Returns:
            How many were dropped.

        Example:
            >>> models.release("all-MiniLM-L6-v2")
            1
        """
        with self._guard:
            chosen = [key for key in self._loaded
                      if (reference is None or key[1] == reference) and (kind is None or key[0] == kind)
                      and (backend is None or key[2] == backend)]
            dropped = [(key, self._loaded.pop(key)) for key in chosen]
        for key, model in dropped:
            self._released(key, model)
        return len(dropped)

    def peek(self, key: Key) -> Any:
        """The model under ``key`` or None, without counting as a use (metrics, listings)."""
        with self._guard:
            return self._loaded.get(key)

    def loaded(self) -> list[Key]:
        """Keys of the loaded models, least recently used first."""
        with self._guard:
            return list(self._loaded)



_DEFAULT: Models | None = None
_DEFAULT_GUARD = threading.Lock()


def default_models() -> Models:
    """The library's own ``Models`` (no limit), used when a caller passes none.

    Example:
        >>> default_models().encoder("hashing:64").dimension
        64
    """
    global _DEFAULT
    with _DEFAULT_GUARD:
        if _DEFAULT is None:
            _DEFAULT = Models()
        return _DEFAULT
