"""Integrity check of a committed collection: manifest, files, counts and ids agree everywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .manifest import read_manifest


def check_collection(path: str | Path) -> list[str]:
    """Problems found in the collection's committed state; an empty list means it is consistent.

    Example:
        >>> check_collection("news")
        []
    """
    from .collection import Collection

    folder = Path(path)
    problems: list[str] = []
    manifest = read_manifest(folder)
    for name, entry in manifest["spaces"].items():
        file = entry["index"].get("file")
        if not file or not (folder / file).is_file():
            problems.append(f"space {name!r}: index file {file!r} is missing")
    if manifest.get("sparse") and not (folder / manifest["sparse"]["folder"]).is_dir():
        problems.append(f"sparse index folder {manifest['sparse']['folder']!r} is missing")
    if problems:
        return problems
    collection = Collection.open(folder, readonly=True)
    try:
        view = collection.view
        visible = collection.store.count(view)
        if visible != manifest["count"]:
            problems.append(f"manifest counts {manifest['count']} items, the content store has {visible}")
        for name, space in collection.spaces.items():
            members = [item.rowid for batch in collection.store.iterate(view, kind=space.kind) for item in batch]
            stored = np.sort(space.index.ids())
            if not np.array_equal(stored, np.sort(np.asarray(members, dtype=np.int64))):
                missing = len(set(members) - set(stored.tolist()))
                extra = len(set(stored.tolist()) - set(members))
                problems.append(f"space {name!r}: {missing} items without vectors, {extra} vectors without items")
            if entry_count(manifest, name) != len(stored):
                problems.append(f"space {name!r}: manifest counts {entry_count(manifest, name)}, index holds {len(stored)}")
        sparse = collection._manifest.get("sparse")
        if sparse:
            from .persistence import load_sparse

            index = load_sparse(collection)
            texts = [item.rowid for batch in collection.store.iterate(view, kind="text") for item in batch]
            if sorted(index.ids().tolist()) != sorted(texts):
                problems.append(f"sparse index holds {len(index)} texts, the content store {len(texts)}")
    finally:
        collection.close()
    return problems


def entry_count(manifest: dict, space: str) -> int:
    return int(manifest["spaces"][space].get("count", 0))
