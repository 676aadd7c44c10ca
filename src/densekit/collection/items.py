"""What a collection stores: items (a text chunk or an image record with metadata), and the checks that
turn a caller's parallel lists of texts, ids and metadata into items. Shared by every store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..encoders.base import check_texts
from ..errors import InvalidInputError
from ..metadata import check_unicode


@dataclass
class Item:
    """One stored item: a text chunk (or an image record) with its metadata.

    ``rowid`` is the store's own row number (never reused, grows with each write); ``vectors`` is
    filled only when asked for (``Collection.get(ids, include=["vectors"])``): space -> vector.
    """

    id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    parent: str | None = None
    start: int | None = None
    end: int | None = None
    kind: str = "text"
    hash: str | None = None
    rowid: int = -1
    vectors: dict[str, np.ndarray] | None = None

    def as_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "text": self.text, "metadata": self.metadata}
        if self.parent is not None:
            data.update(parent=self.parent, start=self.start, end=self.end)
        if self.kind != "text":
            data["kind"] = self.kind
        if self.vectors is not None:
            data["vectors"] = {space: [float(value) for value in vector] for space, vector in self.vectors.items()}
        return data


def check_metadata(metadata: Any, count: int) -> list[dict[str, Any]]:
    """One JSON-serialisable dict per item ({} for each when ``metadata`` is None)."""
    if metadata is None:
        return [{} for _ in range(count)]
    metadata = list(metadata)
    if len(metadata) != count:
        raise InvalidInputError(f"got {len(metadata)} metadata entries for {count} texts; expected one per text")
    for position, entry in enumerate(metadata):
        check_metadata_entry(entry, position)
    return metadata


def check_metadata_entry(entry: Any, position: int | str) -> None:
    """A dict that both stores can keep: finite numbers, valid Unicode, bounded nesting (``densekit.metadata``)."""
    from ..metadata import check_metadata as check_one

    check_one(entry, f"metadata {position}")


def check_ids(ids: Any, what: str = "id") -> list[str]:
    """A list of non-empty string ids (a single string is one id)."""
    if isinstance(ids, str):
        ids = [ids]
    if ids is None:
        raise InvalidInputError(f"expected a list of {what}s, got None")
    ids = list(ids)
    for position, id_ in enumerate(ids):
        if not isinstance(id_, str) or not id_:
            raise InvalidInputError(f"{what} {position} is {id_!r}; expected a non-empty string")
        # Named by its repr, which shows a lone surrogate as \ud800 (SQLite would fail to encode it).
        shown = repr(id_) if len(id_) <= 80 else f"{id_[:80]!r}..."
        check_unicode(id_, f"{what} {position} {shown}")
    return ids


def make_items(texts: Sequence[str], ids: Sequence[str] | None, metadata: Sequence[dict[str, Any]] | None) -> list[Item]:
    """Validated Items from parallel lists; ids default to random hex strings."""
    texts = check_texts(texts)
    for position, text in enumerate(texts):
        check_unicode(text, f"text {position}")
    ids = [uuid.uuid4().hex for _ in texts] if ids is None else check_ids(ids)
    if len(ids) != len(texts):
        raise InvalidInputError(f"got {len(ids)} ids for {len(texts)} texts; expected one id per text")
    check_unique(ids)
    return [Item(id_, text, meta) for id_, text, meta in zip(ids, texts, check_metadata(metadata, len(texts)))]


def check_unique(ids: list[str]) -> None:
    seen: set[str] = set()
    for id_ in ids:
        if id_ in seen:
            raise InvalidInputError(f"id {id_!r} appears more than once in one call")
        seen.add(id_)
