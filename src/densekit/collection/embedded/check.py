"""Integrity check of a committed embedded collection: manifest, files, counts and ids agree everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .manifest import read_manifest

if TYPE_CHECKING:
    from .collection import EmbeddedCollection


def check_files(folder: Path) -> list[str]:
    """Files the manifest names that are missing (checked before opening, which needs them)."""
    problems: list[str] = []
    manifest = read_manifest(folder)
    for name, entry in manifest["spaces"].items():
        file = entry["index"].get("file")
        if not file or not (folder / file).is_file():
            problems.append(f"space {name!r}: index file {file!r} is missing")
    if manifest.get("sparse") and not (folder / manifest["sparse"]["folder"]).is_dir():
        problems.append(f"sparse index folder {manifest['sparse']['folder']!r} is missing")
    return problems


def check_consistency(collection: "EmbeddedCollection") -> list[str]:
    """Counts and ids of the content store, every space's index and the sparse index agree."""
    problems: list[str] = []
    manifest = collection.manifest
    view = collection.view
    store = collection.store
    visible = store.count(view)
    if visible != manifest["count"]:
        problems.append(f"manifest counts {manifest['count']} items, the content store has {visible}")
    for name, space in collection.spaces.items():
        members = [item.rowid for batch in store.iterate(view, kind=space.kind) for item in batch]
        stored = np.sort(space.index.ids())
        if not np.array_equal(stored, np.sort(np.asarray(members, dtype=np.int64))):
            missing = len(set(members) - set(stored.tolist()))
            extra = len(set(stored.tolist()) - set(members))
            problems.append(f"space {name!r}: {missing} items without vectors, {extra} vectors without items")
        counted = int(manifest["spaces"][name].get("count", 0))
        if counted != len(stored):
            problems.append(f"space {name!r}: manifest counts {counted}, index holds {len(stored)}")
    if manifest.get("sparse"):
        index = collection.sparse_index()
        texts = [item.rowid for batch in store.iterate(view, kind="text") for item in batch]
        if sorted(index.ids().tolist()) != sorted(texts):
            problems.append(f"sparse index holds {len(index)} texts, the content store {len(texts)}")
    return problems
