"""Loading and committing a collection's files. ``commit`` is the crash-safe save:

1. each changed space's index is written to a new file named for the new generation;
2. the sparse index is rebuilt into a new folder for the new generation;
3. the manifest naming those files is written beside the old one and renamed over it (the commit point);
4. only then are rows deleted two generations ago purged and unreferenced files removed.
A crash anywhere before 3 leaves the old manifest naming old, complete files.
"""

from __future__ import annotations

import copy
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config
from ..errors import CollectionError, InvalidInputError
from .files import write_atomically
from .manifest import manifest_path, read_manifest, write_manifest
from .space import VectorSpace, index_file_name, load_space

if TYPE_CHECKING:
    from .collection import Collection

INDEX_KINDS = ("auto", "exact", "flat", "hnsw")


def check_index_kind(kind: str) -> None:
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r}; valid: {', '.join(INDEX_KINDS)}")


def resolve_kind(requested: str, count: int) -> str:
    """The backend for a space of ``count`` vectors: exact search until the HNSW threshold."""
    if requested != "auto":
        return requested
    return "hnsw" if count >= config.hnsw_threshold() else "flat"


def stamp(folder: Path) -> tuple[int, int]:
    """A cheap fingerprint of the manifest file, to notice a writer's commit."""
    try:
        status = manifest_path(folder).stat()
    except FileNotFoundError:
        return (0, 0)
    return (status.st_mtime_ns, status.st_ino)


def load_spaces(folder: Path, manifest: dict[str, Any]) -> dict[str, VectorSpace]:
    return {name: load_space(folder, name, entry) for name, entry in manifest["spaces"].items()}


def load_sparse(collection: "Collection"):
    """The BM25 index for what this handle sees (None when it holds no text).

    Readers load the committed one; a writer with staged changes indexes its view in memory, once
    per batch of writes (writes reset ``_sparse``).
    """
    if collection._sparse is not None:
        return collection._sparse
    from ..sparse import SparseIndex

    if not collection.readonly and collection._dirty_sparse:
        rowids, texts = [], []
        for batch in collection.store.iterate(collection.view, kind="text"):
            rowids += [item.rowid for item in batch]
            texts += [item.text for item in batch]
        if texts:
            collection._sparse = SparseIndex()
            collection._sparse.build(rowids, texts)
    elif collection._manifest.get("sparse"):
        for attempt in range(10):
            folder = collection.folder / collection._manifest["sparse"]["folder"]
            try:
                collection._sparse = SparseIndex.load(folder)
                break
            except (FileNotFoundError, CollectionError):
                # A writer committed twice since our manifest and removed that folder: catch up.
                if not collection.readonly or attempt == 9 or folder.exists():
                    raise
                reload(collection)
    return collection._sparse


def reload(collection: "Collection") -> None:
    """Re-read a newer manifest (readers only); retried because a writer may commit meanwhile."""
    for attempt in range(5):
        collection._manifest_stamp = stamp(collection.folder)
        manifest = read_manifest(collection.folder)
        try:
            spaces = {}
            for name, entry in manifest["spaces"].items():
                current = collection.spaces.get(name)
                if current is not None and current.file == entry["index"]["file"]:
                    spaces[name] = current
                else:
                    spaces[name] = load_space(collection.folder, name, entry)
        except FileNotFoundError:
            if attempt == 4:
                raise
            continue
        collection._manifest = manifest
        collection.spaces = spaces
        collection._sparse = None
        return


def check_metadata(metadata: Any, count: int) -> list[dict[str, Any]]:
    if metadata is None:
        return [{} for _ in range(count)]
    metadata = list(metadata)
    if len(metadata) != count:
        raise InvalidInputError(f"got {len(metadata)} metadata entries for {count} texts; expected one per text")
    from ..metadata import check_metadata as check_one  # finite numbers, valid Unicode, bounded nesting

    return [check_one(entry, f"metadata {position}") for position, entry in enumerate(metadata)]


def commit(collection: "Collection") -> None:
    try:
        _commit(collection)
    except (OSError, sqlite3.Error) as error:
        raise CollectionError(
            f"could not commit {str(collection.folder)!r}: {error}. The collection keeps its previous state "
            f"(generation {collection.generation}); staged changes are still held by this handle."
        ) from error


def _commit(collection: "Collection") -> None:
    folder = collection.folder
    step = collection.on_save_step or (lambda name: None)
    generation = collection.generation + 1
    view = collection.view
    (folder / "spaces").mkdir(exist_ok=True)

    new_files: dict[str, str] = {}
    for space in collection.spaces.values():
        if not (space.dirty or space.file is None):
            continue
        _convert_if_needed(space)
        file = index_file_name(space.name, generation)
        write_atomically(folder / file, space.index.save)
        new_files[space.name] = file
        step(f"index:{space.name}")

    sparse_entry = collection._manifest.get("sparse")
    if collection._dirty_sparse or sparse_entry is None:
        sparse_entry = _write_sparse(collection, generation)
        step("sparse")

    manifest = copy.deepcopy(collection._manifest)
    previous_files = _referenced_files(collection._manifest)
    manifest["generation"] = generation
    manifest["count"] = collection.store.count(view)
    manifest["sparse"] = sparse_entry
    manifest["previous_files"] = sorted(previous_files)
    for space in collection.spaces.values():
        entry = space.manifest_entry()
        entry["index"]["file"] = new_files.get(space.name, space.file)
        manifest["spaces"][space.name] = entry
    step("manifest")
    write_manifest(folder, manifest)
    # Committed. Bookkeeping below may fail without harm: the next commit or open tidies up.
    collection._manifest = manifest
    for name, file in new_files.items():
        collection.spaces[name].file = file
    for space in collection.spaces.values():
        space.dirty = False
    collection._dirty_sparse = False
    step("committed")
    collection.store.purge_before(generation - 1)
    _remove_unreferenced(folder, _referenced_files(manifest) | previous_files)


def _convert_if_needed(space: VectorSpace) -> None:
    from ..index.factory import convert_index

    wanted = resolve_kind(space.index_kind, len(space.index))
    if wanted != space.index.kind and not (space.index_kind == "auto" and space.index.kind == "hnsw"):
        space.index = convert_index(space.index, wanted)


def _write_sparse(collection: "Collection", generation: int) -> dict[str, Any] | None:
    sparse = load_sparse(collection)
    if sparse is None:
        return None
    name = f"sparse.{generation}"
    write_atomically(collection.folder / name, sparse.save)
    return {"folder": name, "count": len(sparse)}


def _referenced_files(manifest: dict[str, Any]) -> set[str]:
    files = {entry["index"]["file"] for entry in manifest["spaces"].values() if entry["index"].get("file")}
    if manifest.get("sparse"):
        files.add(manifest["sparse"]["folder"])
    return files


def _remove_unreferenced(folder: Path, keep: set[str]) -> None:
    candidates = list((folder / "spaces").glob("*")) + list(folder.glob("sparse.*")) + list(folder.glob(".*.tmp"))
    candidates += list((folder / "spaces").glob(".*.tmp"))
    for path in candidates:
        relative = path.relative_to(folder).as_posix()
        if relative in keep:
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def describe(collection: "Collection") -> dict[str, Any]:
    manifest = collection._manifest
    size = sum(path.stat().st_size for path in collection.folder.rglob("*") if path.is_file())
    return {
        "path": str(collection.folder),
        "generation": manifest["generation"],
        "count": collection.store.count(collection.view),
        "spaces": {
            name: {
                "model": space.encoder_info["model"],
                "dimension": space.dimension,
                "backend": space.encoder_info.get("backend"),
                "kind": space.kind,
                "index": space.index.kind,
                "vectors": len(space.index),
            }
            for name, space in collection.spaces.items()
        },
        "sparse": manifest.get("sparse"),
        "size_bytes": size,
    }
