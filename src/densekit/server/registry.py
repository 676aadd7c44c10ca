"""The collections a server may touch, by name, with pooled read handles and one group writer each.

Clients name collections, never paths: a name must match the strict pattern and be one the server
was started with, or a folder directly under the configured root. Each read handle is used by one
request at a time (a handle refreshes itself when a writer commits, which must not race a search).
Writes go through the collection's ``GroupWriter`` (``writes.py``): one commit per group of requests.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..errors import CollectionError
from .settings import NAME_PATTERN, ServerSettings, check_name
from .writes import GroupWriter

if TYPE_CHECKING:
    from ..collection import Collection
    from .models_cache import ModelCache


class UnknownCollectionError(CollectionError):
    """A valid name that the server does not serve (answered with 404)."""


class CollectionHandles:
    """Read handles for one collection (a small pool) and its group writer (``writes``)."""

    def __init__(self, name: str, location: "str | Path", models: "ModelCache", readers: int,
                 writer_idle_seconds: float = 2.0):
        self.name = name
        self.location = location
        self._models = models
        self._pool: "queue.LifoQueue[tuple[int, Collection]]" = queue.LifoQueue()
        self._opened = 0
        self._limit = max(1, readers)
        self._open_lock = threading.Lock()
        #: Every write request goes through here: applied in groups, one commit per group.
        self.writes = GroupWriter(lambda: self._open(readonly=False), idle_seconds=writer_idle_seconds, name=name)
        #: Model references the handles' spaces use, and a count bumped when one is released:
        #: handles opened before that are closed instead of pooled, so the model's memory is freed.
        self.references: set[str] = set()
        self._generation = 0

    def _open(self, readonly: bool) -> "Collection":
        from ..collection import Collection
        from ..encoders.registry import BACKENDS

        collection = Collection.open(self.location, readonly=readonly)
        try:
            # Every space gets the server's shared copy of its model: batchable text backends (the
            # registry says which) through the batching queue, the others (DPR, CLIP, ...) behind a lock.
            for name, space in collection.spaces.items():
                info = space.encoder_info
                backend = info.get("backend", "torch")
                self.references.add(info["model"])
                entry = BACKENDS.get(backend)
                if info.get("kind", "text") == "text" and entry is not None and entry.batchable:
                    collection.set_encoder(name, self._models.get(info["model"], backend))
                else:
                    collection.set_encoder(name, self._models.get_locked(info["model"], backend))
        except BaseException:
            collection.close()
            raise
        return collection

    @contextlib.contextmanager
    def reader(self) -> Iterator["Collection"]:
        """A read-only handle for this request alone, returned to the pool afterwards."""
        entry = None
        try:
            entry = self._pool.get_nowait()
        except queue.Empty:
            with self._open_lock:  # a slot is taken under the lock; the handle is opened outside it
                opening = self._opened < self._limit
                if opening:
                    self._opened += 1
                    generation = self._generation
            if opening:
                # Outside: opening loads models, and a model evicted meanwhile calls retire(), which
                # takes the lock (held here, this thread waited for itself).
                try:
                    entry = (generation, self._open(readonly=True))
                except BaseException:
                    with self._open_lock:
                        self._opened -= 1
                    raise
        if entry is None:
            entry = self._pool.get()
        try:
            yield entry[1]
        finally:
            self._return(entry)

    def _return(self, entry: "tuple[int, Collection]") -> None:
        with self._open_lock:
            current = entry[0] == self._generation
            if not current:
                self._opened -= 1
        if current:
            self._pool.put(entry)
        else:
            entry[1].close()

    def retire(self) -> None:
        """A model these handles use was released: close the idle handles, and busy ones when returned."""
        with self._open_lock:
            self._generation += 1
        self.writes.retire()
        while True:
            try:
                entry = self._pool.get_nowait()
            except queue.Empty:
                return
            with self._open_lock:
                self._opened -= 1
            entry[1].close()

    def close(self) -> None:
        self.writes.close()
        while True:
            try:
                self._pool.get_nowait()[1].close()
            except queue.Empty:
                return


class CollectionRegistry:
    """Maps names to collection folders and keeps their handles.

    Example:
        >>> registry = CollectionRegistry(ServerSettings(collections={"notes": Path("notes")}), ModelCache())
        >>> registry.names()
        ['notes']
    """

    def __init__(self, settings: ServerSettings, models: "ModelCache", readers: int = 4):
        self._settings = settings
        self._models = models
        self._readers = readers
        self._handles: dict[str, CollectionHandles] = {}
        self._lock = threading.Lock()
        self._closed = False
        models.on_release(self._model_released)

    def _model_released(self, key: tuple) -> None:
        reference = key[1]
        with self._lock:
            affected = [handles for handles in self._handles.values() if reference in handles.references]
        for handles in affected:
            handles.retire()

    def names(self) -> list[str]:
        names = set(self._settings.collections)
        root = self._settings.root
        if root is not None and root.is_dir():
            names.update(path.name for path in root.iterdir() if self._under_root(path.name) is not None)
        return sorted(names)

    def location(self, name: str) -> "str | Path":
        """Where a served collection lives (a folder or a store URL); 422 for a bad name, 404 for an unknown one."""
        check_name(name)
        if name in self._settings.collections:
            served = self._settings.collections[name]
            return Path(served).expanduser() if isinstance(served, Path) else served
        folder = self._under_root(name)
        if folder is not None:
            return folder
        served = ", ".join(self.names()) or "none"
        raise UnknownCollectionError(f"no collection named {name!r}; served: {served}")

    def handles(self, name: str) -> CollectionHandles:
        location = self.location(name)
        with self._lock:
            if self._closed:  # a request still running at shutdown: no writer opened after close
                raise CollectionError(f"the server is shutting down; collection {name!r} was not opened")
            handles = self._handles.get(name)
            if handles is None:
                handles = CollectionHandles(name, location, self._models, self._readers,
                                            self._settings.writer_idle_seconds)
                self._handles[name] = handles
            return handles

    def close(self) -> None:
        with self._lock:
            self._closed = True
            closing, self._handles = list(self._handles.values()), {}
        # Outside the lock: a writer thread finishing its group may load a model, and a model
        # evicted then calls _model_released, which takes the lock (close waited for it forever).
        for handles in closing:
            handles.close()

    def _under_root(self, name: str) -> Path | None:
        """The collection folder ``root/name``, or None if there is none or it leads out of the root."""
        root = self._settings.root
        if root is None or not NAME_PATTERN.match(name):
            return None
        folder = root / name
        # The pattern already rules out separators and dots; resolving also rules out a link
        # that leads outside the root.
        if folder.resolve().parent != root.resolve() or not self._is_collection(folder):
            return None
        return folder

    @staticmethod
    def _is_collection(folder: Path) -> bool:
        from ..collection import Collection

        return Collection.exists(folder)

