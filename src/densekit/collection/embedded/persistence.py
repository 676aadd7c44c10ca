"""Loading and committing an embedded collection's files. A commit is the crash-safe save:

1. each changed space's index is written to a new file named for the new generation;
2. the sparse index is rebuilt into a new folder for the new generation;
3. the manifest naming those files is written beside the old one and renamed over it (the commit point);
4. only then are rows deleted two generations ago purged and unreferenced files removed.
A crash anywhere before 3 leaves the old manifest naming old, complete files.
These functions take what they need and return what they made; the collection keeps its own state.
"""

from __future__ import annotations

import contextvars
import copy
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ... import config
from ...errors import CollectionError, InvalidInputError
from ...files import write_atomically
from ..space import IN_INDEX_RUN, LOAD_OVERRIDES, VectorSpace
from .vector_log import checkpoint_due, replay

#: A checkpoint left to a background job is written inside the commit once it is this many times
#: overdue (the jobs keep failing, or writes outpace them).
OVERDUE = 4
from .manifest import MANIFEST_NAME, manifest_path, read_manifest, vector_keys, write_manifest

INDEX_KINDS = ("auto", "exact", "flat", "hnsw")
#: A loaded index gets room for 1/ROOM_SHARE more vectors than the manifest counts (at least
#: ROOM_MIN): the adds of a writer, or a reader's replay of them, then fill it in place, where an index
#: loaded to its exact size copies all its vectors at the first add (seconds at 1M x 384).
ROOM_SHARE = 16
ROOM_MIN = 1024
#: Opening refuses a space whose checkpoint and replay disagree with the manifest's count; ``check``
#: opens with this off, to list that problem beside every other one.
VERIFY_COUNTS: contextvars.ContextVar[bool] = contextvars.ContextVar("verify_counts", default=True)


def check_index_kind(kind: str) -> None:
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r}; valid: {', '.join(INDEX_KINDS)}")


def resolve_kind(requested: str, count: int) -> str:
    """The backend for a space of ``count`` vectors: exact search until the HNSW threshold."""
    if requested != "auto":
        return requested
    return "hnsw" if count >= config.hnsw_threshold() else "flat"


def stamp(folder: Path | str) -> tuple[int, int]:
    """A cheap fingerprint of the manifest file, to notice a writer's commit (a reader checks it on
    every search: os.stat of a joined string, a few microseconds less than pathlib's)."""
    try:
        status = os.stat(os.path.join(folder, MANIFEST_NAME))
    except FileNotFoundError:
        return (0, 0)
    return (status.st_mtime_ns, status.st_ino)


def index_file_name(space: str, generation: int) -> str:
    return f"spaces/{space}.{generation}.index"


def load_space(folder: Path, name: str, entry: dict[str, Any], store=None, through: int | None = None,
               room: bool = True) -> VectorSpace:
    """A space as the manifest names it: its checkpoint, with the generations after it up to
    ``through`` replayed from the content store ``store`` (vector_log.py). ``room``: space for later
    adds (False: exactly the manifest's count, for a load that only writes the index out again)."""
    from ...index.factory import load_index

    index_entry = entry["index"]
    params = {key: value for key, value in index_entry.get("params", {}).items() if key != "kind"}
    # Only search-time settings are applied at load; build settings live in the index file.
    overrides = {key: value for key, value in params.items() if key in LOAD_OVERRIDES}
    count = entry.get("count")
    capacity = int(count) + (max(int(count) // ROOM_SHARE, ROOM_MIN) if room else 0) if count is not None else None
    index = load_index(index_entry["kind"], folder / index_entry["file"], int(entry["encoder"]["dimension"]),
                       capacity, **overrides)
    checkpoint = int(index_entry.get("generation", 0))
    space = VectorSpace(
        name=name,
        encoder_info=entry["encoder"],
        index_kind=index_entry.get("requested", index_entry["kind"]),
        index=index,
        file=index_entry["file"],
        index_params=params,
        vector_key=index_entry.get("vectors"),
        file_sha256=index_entry.get("sha256"),
        checkpoint_generation=checkpoint,
        shows=checkpoint,
        tail=int(index_entry.get("tail", 0)),
    )
    catch_up(store, space, through, entry.get("count"))
    return space


def catch_up(store, space: VectorSpace, through: int | None, expected: int | None = None) -> None:
    """Replay the generations after the one ``space`` shows, up to ``through``; the result must hold
    ``expected`` vectors (the manifest's count), or the checkpoint is not this collection's: never used."""
    if space.vector_key is None or store is None or through is None:
        return
    if through > space.shows:
        if expected is not None:
            space.index.reserve(int(expected))
        try:
            replay(store, space.index, space.vector_key, space.shows, through)
        except BaseException as error:
            # Replayed in part (an interruption, memory, a read failing): never kept as loaded again,
            # where the next catch-up replayed the same rows once more (load_spaces reads it afresh).
            file, space.file = space.file, None
            if isinstance(error, InvalidInputError):  # the index refused a row it holds already
                raise CollectionError(
                    f"space {space.name!r}: its checkpoint {file!r} holds rows the content store adds after it "
                    f"(a damaged or foreign file); densekit check --repair rebuilds it") from error
            raise
        space.shows = through
    if expected is not None and VERIFY_COUNTS.get() and len(space.index) != int(expected):
        raise CollectionError(
            f"space {space.name!r}: its checkpoint {space.file!r} and the content store give {len(space.index)} vectors, "
            f"the manifest counts {expected} (a damaged or foreign file); densekit check --repair rebuilds it"
        )


def empty_space(name: str, entry: dict[str, Any]) -> VectorSpace:
    """A space as the manifest describes it, with a new empty index (to be filled again)."""
    from ...index.factory import create_index

    requested = entry["index"].get("requested", entry["index"]["kind"])
    kind = resolve_kind(requested, 0)
    index = create_index(kind, int(entry["encoder"]["dimension"]))
    return VectorSpace(name, entry["encoder"], requested, index=index, dirty=True, rewrite=True,
                       vector_key=entry["index"].get("vectors"))


def load_spaces(folder: Path, manifest: dict[str, Any], store=None, current: dict[str, VectorSpace] | None = None) -> dict[str, VectorSpace]:
    """The manifest's spaces. A space in ``current`` with the same checkpoint and vectors is kept as
    loaded and replays only the generations committed since (a reader's tail replay)."""
    spaces = {}
    generation = int(manifest["generation"])
    for name, entry in manifest["spaces"].items():
        kept = (current or {}).get(name)
        index_entry = entry["index"]
        if (kept is not None and kept.file == index_entry["file"] and kept.vector_key == index_entry.get("vectors")
                and (kept.vector_key is not None or kept.shows <= generation)):
            kept.tail = int(index_entry.get("tail", 0))
            catch_up(store, kept, generation, entry.get("count"))
            spaces[name] = kept
        else:
            spaces[name] = load_space(folder, name, entry, store, generation)
    return spaces


def write_generation(
    folder: Path,
    manifest: dict[str, Any],
    spaces: dict[str, VectorSpace],
    sparse_entry: dict[str, Any] | None,
    count: int,
    step: Callable[[str], None],
    checkpoints_inline: bool = True,
    store=None,
    view: int | None = None,
    busy: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write the next generation's files and switch the manifest to them (steps 1-3).

    Args:
        manifest: the committed manifest; spaces: every space (dirty ones or ones never saved are written).
        sparse_entry: the manifest's sparse entry for the new generation (the sparse tables live in
            the content store, already written with the rows).
        count: visible items in the new generation.
        step: called with each step's name (crash-injection tests raise from it).
        checkpoints_inline: write the checkpoints that are due here (False: background jobs write
            them, checkpoints.py; one far overdue is still written here, unless its space is in
            ``busy``: a job is writing it, and writing it here too would hold this commit for as long
            as the whole index takes to write, seconds at 1M).
        store, view: the content store and the writer's generation, to convert an index from the
            stored vectors (without them, from the old index, holding both at once).
    Returns:
        (the new manifest, space -> its new checkpoint file, for the spaces that got one).
    """
    generation = int(manifest["generation"]) + 1
    (folder / "spaces").mkdir(exist_ok=True)
    new_files: dict[str, str] = {}
    checksums: dict[str, str] = {}
    for space in spaces.values():
        if not (space.dirty or space.file is None):
            continue
        tail = space.tail + space.staged_rows
        if checkpoints_inline:
            due = checkpoint_due(len(space.index), tail)
        else:
            due = space.name not in busy and checkpoint_due(len(space.index), tail // OVERDUE)
        if space.rewrite or space.file is None or space.vector_key is None or conversion_due(space) or due:
            _convert_if_needed(space, store, view)
            file = index_file_name(space.name, generation)
            write_atomically(folder / file, space.index.save)
            new_files[space.name] = file
            checksums[space.name] = file_checksum(folder / file)
        step(f"index:{space.name}")
    step("sparse")
    new = copy.deepcopy(manifest)
    new["generation"] = generation
    new["count"] = count
    new["sparse"] = sparse_entry
    new["previous_files"] = sorted(referenced_files(manifest))
    new["previous_vectors"] = sorted(vector_keys(manifest))
    for space in spaces.values():
        entry = space.manifest_entry()
        entry["index"]["file"] = new_files.get(space.name, space.file)
        if space.vector_key is not None:
            checkpointed = space.name in new_files
            entry["index"]["generation"] = generation if checkpointed else space.checkpoint_generation
            entry["index"]["tail"] = 0 if checkpointed else space.tail + (space.staged_rows if space.dirty else 0)
        old = manifest["spaces"].get(space.name, {}).get("index", {})
        # What `densekit check` verifies the file against (a flipped or swapped file fails it).
        checksum = checksums.get(space.name) or space.file_sha256 or (
            old.get("sha256") if old.get("file") == entry["index"]["file"] else None)
        if checksum:
            entry["index"]["sha256"] = checksum
        new["spaces"][space.name] = entry
    step("manifest")
    try:
        write_manifest(folder, new)
    except BaseException as error:
        if not _names(folder, new):
            raise
        raise CommitPointPassed(new, new_files, error) from error
    return new, new_files


class CommitPointPassed(BaseException):
    """The manifest was switched (renamed into place: readers show the new generation) and what came
    after failed or was interrupted: syncing the folder. The commit happened; the caller finishes it
    (``EmbeddedCommits._commit``) instead of taking it for failed and dropping its rows.
    BaseException, as the interruption it may carry: no ``except Exception`` on the way swallows it."""

    def __init__(self, manifest: dict[str, Any], files: dict[str, str], error: BaseException):
        super().__init__(f"generation {manifest['generation']} is committed; then: {error}")
        self.manifest, self.files, self.error = manifest, files, error


def _names(folder: Path, manifest: dict[str, Any]) -> bool:
    """True when the manifest file in ``folder`` is ``manifest`` (its generation, of this collection)."""
    try:
        on_disk = read_manifest(folder)
    except CollectionError:
        return False
    return on_disk.get("generation") == manifest["generation"] and on_disk.get("id") == manifest.get("id")


def conversion_due(space: VectorSpace) -> bool:
    """True when the space has grown past the point where another index kind serves it (a checkpoint),
    unless an index run goes on (``space.index_run``: its end converts)."""
    return not IN_INDEX_RUN.get() and _outgrown(space)


def _outgrown(space: VectorSpace) -> bool:
    wanted = resolve_kind(space.index_kind, len(space.index))
    return wanted != space.index.kind and not (space.index_kind == "auto" and space.index.kind == "hnsw")


def _convert_if_needed(space: VectorSpace, store=None, view: int | None = None) -> None:
    from ...index.factory import convert_index

    if not conversion_due(space):
        return
    kind = resolve_kind(space.index_kind, len(space.index))
    # The checkpoint file still holds the old kind: until a commit writes this index's, every commit
    # must (a commit failing after converting leaves the writer with the new kind and the old file).
    space.rewrite = True
    if store is None or view is None or space.vector_key is None:
        space.index = convert_index(space.index, kind)
        return
    # The writer's rows and vectors are all in the content store: the old index is let go before the
    # new one is built from there, so the two never take memory at once (a 200 MB ingest converting
    # to HNSW: one copy of its vectors less at its peak). A failure builds the old kind back.
    count, old_kind = len(space.index), space.index.kind
    space.index = None
    try:
        space.index = index_from_store(store, space.vector_key, kind, space.dimension, count, view)
    except BaseException:
        space.index = index_from_store(store, space.vector_key, old_kind, space.dimension, count, view)
        raise


def index_from_store(store, key: str, kind: str, dimension: int, count: int, view: int, **params: Any):
    """A new ``kind`` index of the ``count`` vectors stored under ``key`` visible at ``view``."""
    from ...index.factory import create_index

    index = create_index(kind, dimension, **params)
    index.reserve(count)
    for rowids, vectors in store.vectors_added_between(key, -1, view, dimension):
        index.add(rowids, vectors)
    if len(index) != count:
        raise CollectionError(f"the content store holds {len(index)} vectors under {key!r}, the index held {count}")
    return index


def file_checksum(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_checksum(folder: Path) -> str:
    """One checksum over every file in ``folder`` (names and contents, in name order)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + file_checksum(path).encode())
    return digest.hexdigest()


def referenced_files(manifest: dict[str, Any]) -> set[str]:
    files = {entry["index"]["file"] for entry in manifest["spaces"].values() if entry["index"].get("file")}
    if (manifest.get("sparse") or {}).get("folder"):  # collections made before the sparse tables
        files.add(manifest["sparse"]["folder"])
    return files


def remove_unreferenced(folder: Path, keep: set[str], pending: set[str] = frozenset()) -> None:
    """Remove index files, sparse folders and temporary files that no manifest in ``keep`` names, but
    not the files of running checkpoint jobs (``pending``) nor their temporary files."""
    keep = set(keep) | set(pending)
    writing = tuple(f".{Path(file).name}." for file in pending)
    candidates = list((folder / "spaces").glob("*")) + list(folder.glob("sparse.*")) + list(folder.glob(".*.tmp"))
    candidates += list((folder / "spaces").glob(".*.tmp"))
    for path in candidates:
        relative = path.relative_to(folder).as_posix()
        if relative in keep or (writing and path.name.startswith(writing)):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def kept_files(manifest: dict[str, Any]) -> set[str]:
    """Files a reader may still need: those the manifest names and those the one before it named."""
    return referenced_files(manifest) | set(manifest.get("previous_files", []))


#: What a collection folder holds before its first manifest (a creation that was killed).
_CREATION_FILES = ("content.sqlite", "content.sqlite-wal", "content.sqlite-shm", "content.sqlite-journal",
                   ".writer.lock", "spaces", "thumbnails")


def half_created(folder: Path) -> bool:
    """True when ``folder`` holds only what a collection's creation writes before its first manifest."""
    return not manifest_path(folder).exists() and all(
        path.name in _CREATION_FILES or path.name.startswith("sparse.") or (path.name.startswith(".") and path.name.endswith(".tmp"))
        for path in folder.iterdir()
    )


def remove_half_created(folder: Path) -> None:
    """Remove what a killed creation left (the caller holds the writer lock; there is no manifest)."""
    for path in folder.iterdir():
        if path.name == ".writer.lock":
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def folder_size(folder: Path) -> int:
    """Bytes of the files in ``folder``. A file removed between listing and reading it (a checkpoint
    job's temporary file renamed, a file tidied by a commit) is not counted: ``info`` and ``compact``
    run while checkpoint jobs and other handles write."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                status = os.stat(os.path.join(root, name), follow_symlinks=False)
            except FileNotFoundError:
                continue
            total += status.st_size
    return total


def build_sparse(store, view: int, stem: bool = False):
    """The BM25 index of the visible texts, scoring whole documents (a chunk's parent; overlap between
    neighbouring chunks counted once; docs/retrieval.md); None when there is no text."""
    from ...sparse import SparseIndex

    rowids, texts, documents, spans = [], [], [], []
    for batch in store.iterate(view, kind="text"):
        for item in batch:
            rowids.append(item.rowid)
            texts.append(item.text)
            documents.append(item.parent)
            spans.append((item.start, item.end) if item.parent is not None and item.start is not None else None)
    if not texts:
        return None
    index = SparseIndex(stem=stem)
    index.build(rowids, texts, documents=documents, spans=spans)
    return index
