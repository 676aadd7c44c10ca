"""What a store implements under the collection interface (``base.Collection``): opening, durability,
reads, writes and the narrow search hooks. ``base`` and ``search`` write everything else once;
docs/stores.md says what each hook returns and how to add a store."""

from __future__ import annotations

import abc
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..progress import ProgressCallback
from .items import Item
from .where import Condition

if TYPE_CHECKING:
    from .base import Collection  # noqa: F401  (the annotations below name it)


class StoreHooks(abc.ABC):
    """The abstract half of ``Collection``."""

    # --- what a store implements ---------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def _create(cls, location: Any, make_encoder: Callable[[], Encoder], *, index: str, space: str, exist_ok: bool,
                name: str | None, read_replicas: Sequence[str] | None) -> "Collection":
        """A new collection with one space; call ``make_encoder()`` only once the location is known to be free."""

    @classmethod
    @abc.abstractmethod
    def _open(cls, location: Any, *, readonly: bool, name: str | None, read_replicas: Sequence[str] | None) -> "Collection":
        """An existing collection, encoders not yet loaded (they load on first use)."""

    @classmethod
    @abc.abstractmethod
    def _exists(cls, location: Any, *, name: str | None) -> bool: ...

    _closed: bool = False  # set by the store's close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    @abc.abstractmethod
    def collection_id(self) -> str:
        """A stable identity that survives moves and differs for a rebuilt collection at the same place."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def commit(self, force: bool = False) -> None:
        """Make staged writes durable and visible to other handles (a no-op where every write is)."""

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager["Collection"]:
        """Several write calls as one: all of them become durable and visible together, or none."""

    @abc.abstractmethod
    def refresh(self) -> None:
        """Pick up what other handles committed (spaces added, a newer generation)."""

    @property
    def local_folder(self) -> "Path | None":
        """A folder on this machine where the collection keeps files beside its items (image
        thumbnails); None for a store that has none (a database server)."""
        return None

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """Wraps the hooks of one search or read: a store with several servers keeps them on one."""
        return contextlib.nullcontext()

    def _ensure_current(self) -> None:
        """Called before every read; a store whose handle can lag behind other writers catches up here."""
        return None  # a store that never lags has nothing to catch up with (deliberately not abstract)

    @abc.abstractmethod
    def count(self, kind: str | None = None) -> int:
        """Visible items (only those of ``kind``, e.g. "image", when given)."""

    @abc.abstractmethod
    def metadata_keys(self) -> dict[str, int]:
        """Each metadata key and how many items have it, kept up to date by every write (no scan)."""

    @abc.abstractmethod
    def info(self) -> dict[str, Any]:
        """``path``, ``count``, ``generation``, ``spaces`` (``encoding.describe_spaces``), ``sparse``, ``size_bytes``."""

    @abc.abstractmethod
    def check(self) -> list[str]:
        """Problems in the stored state (an empty list: consistent)."""

    @abc.abstractmethod
    def document_hash(self, parent: str) -> str | None: ...

    @abc.abstractmethod
    def export(self, *, after: int = -1, batch: int = 500, include_vectors: bool = True) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
        """Items past rowid ``after`` in row order with their stored vectors per space (for copies;
        ``include_vectors=False``: items only, the dict empty)."""

    @abc.abstractmethod
    def add_space(self, name: str, encoder: Encoder, index: str = "auto") -> None:
        """Add another vector space (CLIP images, DPR contexts); existing items of its kind are encoded into it."""

    @abc.abstractmethod
    def read_copy_state(self, source: str) -> dict[str, Any]:
        """What ``densekit copy`` recorded of copying the collection ``source`` (an id) into this one."""

    @abc.abstractmethod
    def write_copy_state(self, source: str, state: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    def _get_items(self, ids: list[str], with_vectors: bool) -> list[Item]: ...

    @abc.abstractmethod
    def _id_page(self, after: int, limit: int) -> list[tuple[int, str]]:
        """(rowid, id) of the next ``limit`` visible items after rowid ``after``, in row order."""

    @abc.abstractmethod
    def _write_items(self, items: list[Item], encoded: dict[str, np.ndarray], *, replace: bool) -> None: ...

    @abc.abstractmethod
    def _replace_documents(self, parents: list[str], items: list[Item], encoded: dict[str, np.ndarray]) -> int: ...

    @abc.abstractmethod
    def _delete(self, ids: list[str] | None, conditions: list[Condition] | None) -> int: ...

    @abc.abstractmethod
    def _index_key(self, key: str) -> bool:
        """Create the store's index for filters on one metadata key; False when it existed."""

    @abc.abstractmethod
    def _reencode_space(self, space: str, encoder: Encoder, progress: ProgressCallback | None) -> int:
        """Replace every vector of ``space`` with ``encoder``'s and record its info, atomically."""

    @abc.abstractmethod
    def _update_metadata(self, changes: dict[str, tuple[dict[str, Any], list[str]]]) -> int:
        """id -> (keys to set, keys to remove); returns how many items exist and were updated."""

    @abc.abstractmethod
    def _compile_filter(self, conditions: list[Condition]) -> Any:
        """The store's form of a filter for the candidate hooks, or ``search.MATCHES_NOTHING``."""

    @abc.abstractmethod
    def _dense_candidates(self, vectors: np.ndarray, depth: int, space: str, compiled: Any, found: dict) -> list[list[tuple[int, float]]]:
        """Per query vector, (rowid, score) best first; may put fetched Items into ``found`` (rowid -> Item)."""

    @abc.abstractmethod
    def _sparse_candidates(self, query: str, depth: int, compiled: Any, found: dict) -> list[tuple[int, float]]: ...

    @abc.abstractmethod
    def _items_by_rowid(self, rowids: list[int]) -> dict[int, Item]: ...
