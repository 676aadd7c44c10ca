"""Integrity check of an embedded collection: every file it relies on, then counts and ids across the
content store, each space's index and the sparse index. Every failure is a listed problem, never a
traceback (``EmbeddedCollection.repair_at`` rebuilds what can be derived from the content store)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .manifest import read_manifest
from .persistence import file_checksum, folder_checksum, load_space
from .store import CONTENT_NAME, ContentStore

if TYPE_CHECKING:
    from .collection import EmbeddedCollection

#: Sample queries compared between the stored sparse index and one rebuilt from the content store.
SPARSE_SAMPLE = 20
#: Vectors compared between each space's index and the content store.
VECTOR_SAMPLE = 50


def check_files(folder: Path) -> list[str]:
    """Problems with the files the manifest names (checked before opening, which needs them)."""
    manifest = read_manifest(folder)
    return content_problems(folder) + [problem for _, problem in space_problems(folder, manifest)] + sparse_problems(folder, manifest)


def content_problems(folder: Path) -> list[str]:
    path = folder / CONTENT_NAME
    if not path.is_file():
        return [f"the content store {CONTENT_NAME} is missing"]
    try:
        store = ContentStore(path, readonly=True)  # as readers open it (read-only media included)
        try:
            verdict = store.connection.execute("PRAGMA quick_check").fetchone()[0]
            store.connection.execute("SELECT count(*) FROM items").fetchone()
        finally:
            store.close()
    except sqlite3.Error as error:
        return [f"the content store {CONTENT_NAME} cannot be read: {error}"]
    return [] if verdict == "ok" else [f"the content store {CONTENT_NAME} is damaged: {verdict}"]


def space_problems(folder: Path, manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(space, problem) for each space whose index file is missing, altered or unreadable."""
    found = []
    for name, entry in manifest["spaces"].items():
        file = entry["index"].get("file")
        path = folder / file if file else None
        if path is None or not path.is_file():
            found.append((name, f"space {name!r}: index file {file!r} is missing"))
            continue
        checkpoint = entry["index"].get("generation")
        if checkpoint is not None and int(checkpoint) > int(manifest["generation"]):
            found.append((name, f"space {name!r}: index file {file!r} claims generation {checkpoint}, "
                                f"beyond the collection's {manifest['generation']}"))
            continue
        expected = entry["index"].get("sha256")
        if expected and file_checksum(path) != expected:
            found.append((name, f"space {name!r}: index file {file!r} does not match the manifest (changed, or from another collection)"))
            continue
        try:
            load_space(folder, name, entry)
        except Exception as error:  # noqa: BLE001 - any unreadable file is a problem to list
            found.append((name, f"space {name!r}: index file {file!r} cannot be read: {type(error).__name__}: {error}"))
    return found


def replay_problems(folder: Path, manifest: dict[str, Any], skip: set[str]) -> list[tuple[str, str]]:
    """(space, problem) for each space outside ``skip`` whose checkpoint reads but does not replay
    the rows after it into the manifest's count (it holds rows of its tail, or another collection's):
    what opening refuses, which ``repair_at`` rebuilds too."""
    found = []
    store = ContentStore(folder / CONTENT_NAME, readonly=True, mapped=False)
    try:
        for name, entry in manifest["spaces"].items():
            if name in skip:
                continue
            try:
                load_space(folder, name, entry, store, int(manifest["generation"]), room=False)
            except Exception as error:  # noqa: BLE001 - a space that does not load is one to rebuild
                found.append((name, f"space {name!r}: {error}"))
    finally:
        store.close()
    return found


def sparse_problems(folder: Path, manifest: dict[str, Any]) -> list[str]:
    from ...sparse import SparseIndex

    entry = manifest.get("sparse")
    if not entry:
        return []
    if entry.get("engine") == "segments":
        return _sparse_table_problems(folder, manifest)
    path = folder / entry["folder"]
    if not path.is_dir():
        return [f"sparse index folder {entry['folder']!r} is missing"]
    if entry.get("sha256") and folder_checksum(path) != entry["sha256"]:
        return [f"sparse index folder {entry['folder']!r} does not match the manifest (changed, or from another collection)"]
    try:
        SparseIndex.load(path)
    except Exception as error:  # noqa: BLE001 - any unreadable file is a problem to list
        return [f"sparse index folder {entry['folder']!r} cannot be read: {type(error).__name__}: {error}"]
    return []


def _sparse_table_problems(folder: Path, manifest: dict[str, Any]) -> list[str]:
    from .sparse_tables import CollectionSparse, tables_exist

    try:
        store = ContentStore(folder / CONTENT_NAME, readonly=True)
    except sqlite3.Error:
        return []  # content_problems lists it
    try:
        if not tables_exist(store.connection):
            return ["the sparse tables are missing from the content store"]
        CollectionSparse(store, int(manifest["generation"]))  # every segment readable (checksums)
    except Exception as error:  # noqa: BLE001 - any unreadable table is a problem to list
        return [f"the sparse tables cannot be read: {type(error).__name__}: {error}"]
    finally:
        store.close()
    return []


def check_consistency(collection: "EmbeddedCollection") -> list[str]:
    """Counts and ids of the content store, every space's index and the sparse index agree, and the
    sparse index ranks sample queries as one rebuilt from the content store does."""
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
        problems += _vector_problems(collection, name, space, stored)
        counted = int(manifest["spaces"][name].get("count", 0))
        if counted != len(stored):
            problems.append(f"space {name!r}: manifest counts {counted}, index holds {len(stored)}")
    if manifest.get("sparse"):
        problems += sparse_agrees(collection)
    return problems


def _vector_problems(collection: "EmbeddedCollection", name: str, space, ids: np.ndarray) -> list[str]:
    """Sampled vectors of the index (checkpoint + replay) equal the content store's."""
    if space.vector_key is None or not len(ids):
        return []
    sample = np.random.default_rng(0).choice(ids, size=min(VECTOR_SAMPLE, len(ids)), replace=False)
    try:
        stored = collection.store.vectors_of(space.vector_key, sample, space.dimension)
    except KeyError as error:
        return [f"space {name!r}: {error.args[0]}"]
    if not np.allclose(space.index.vectors(sample), stored, atol=1e-3):
        return [f"space {name!r}: its index holds vectors unlike the content store's (damaged, or from another collection)"]
    return []


def _same_ranking(index, rebuilt, query: str) -> bool:
    """The stored index ranks like the rebuilt one: the same top scores, and each stored hit scored as
    the rebuilt index scores that row (so equal scores may come in another order: float rounding)."""
    scores, ids = index.search(query, 10)
    fresh_scores, fresh_ids = rebuilt.search(query, 100)
    if len(scores) != min(10, len(fresh_scores)) or not np.allclose(scores, fresh_scores[: len(scores)], atol=1e-3):
        return False
    fresh = dict(zip(fresh_ids.tolist(), fresh_scores.tolist()))
    return all(rowid in fresh and abs(fresh[rowid] - score) < 1e-3 for rowid, score in zip(ids.tolist(), scores.tolist()))


def sparse_agrees(collection: "EmbeddedCollection") -> list[str]:

    index = collection.sparse_index()
    rowids, texts = [], []
    for batch in collection.store.iterate(collection.view, kind="text"):
        rowids += [item.rowid for item in batch]
        texts += [item.text for item in batch]
    if sorted(index.ids().tolist()) != sorted(rowids):
        return [f"sparse index holds {len(index)} texts, the content store {len(texts)}"]
    if not texts:
        return []
    from .persistence import build_sparse

    rebuilt = build_sparse(collection.store, collection.view, stem=index.stemmer_language is not None)
    generator = np.random.default_rng(0)
    for position in generator.choice(len(texts), size=min(SPARSE_SAMPLE, len(texts)), replace=False):
        query = " ".join(texts[position].split()[:6])
        if not query.strip():
            continue
        if not _same_ranking(index, rebuilt, query):
            return [f"sparse index ranks {query!r} unlike one rebuilt from the content store (damaged or stale)"]
    return []
