"""Copying a collection between stores (folder <-> PostgreSQL, or same kind): items, metadata and
every space's stored vectors, in source row order, never re-encoding.

The sparse side is derived from the texts in both stores (BM25 built at commit; a generated
tsvector column), so copying the texts copies it.

Resumable: after each durable step the destination records, per source, the last source row copied
(PostgreSQL: a NAME_copy_state table; folder: copy-state.json beside the manifest). A re-run starts
after that row. Writes are upserts by id, so re-copying rows a crash left unrecorded is harmless.
A copy is of the source as it is while copying; deleting source items mid-copy is not mirrored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..encoders.base import Encoder, EncoderInfo
from ..errors import CollectionError
from ..progress import ProgressCallback, report
from .store import Item
from .stores import collection_exists, create_collection, is_postgres, open_collection

STATE_FILE = "copy-state.json"
#: A folder destination commits (rewrites its index files) every this many items, not every batch.
FOLDER_COMMIT_EVERY = 20_000


@dataclass
class CopyReport:
    source: str
    destination: str
    total: int
    copied: int = 0
    skipped: int = 0  # copied by an earlier, interrupted run
    resumed: bool = False
    created: bool = False
    spaces: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RecordedEncoder(Encoder):
    """Stands in for a space's encoder when creating the destination: it carries the recorded
    encoder info (so the manifest matches the source's) and refuses to encode."""

    def __init__(self, info: dict[str, Any]):
        self._info = EncoderInfo(**info)
        self.model_name = self._info.model
        self.dimension = int(self._info.dimension)
        self.backend = self._info.backend

    def info(self) -> EncoderInfo:
        return self._info

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        raise CollectionError("a copy never re-encodes; every vector comes from the source")


def copy_collection(
    source: str | Path,
    destination: str | Path,
    *,
    source_name: str | None = None,
    destination_name: str | None = None,
    batch: int = 500,
    progress: ProgressCallback | None = None,
) -> CopyReport:
    """Copy every item with its vectors from ``source`` into ``destination`` (created when missing).

    Args:
        source / destination: collection folders or ``postgresql://`` URLs.
        source_name / destination_name: collection names in a database (else from ``?collection=``;
            a new PostgreSQL destination defaults to the source's name).
        batch: items per read and per write transaction.
        progress: ``progress(done, total)`` in items, counting rows an earlier run already copied.
    Returns:
        a CopyReport (copied now, skipped as already copied, whether it resumed or created).

    Example:
        >>> copy_collection("news", "postgresql://me@db/search", destination_name="news").copied
        1200
    """
    reader = open_collection(source, name=source_name, readonly=True)
    try:
        if destination_name is None and is_postgres(destination) and "collection=" not in str(destination):
            destination_name = _default_name(reader)
        created = not collection_exists(destination, name=destination_name)
        writer = _open_destination(reader, destination, destination_name, created)
        try:
            return _copy(reader, writer, batch, progress, created)
        finally:
            writer.close()
    finally:
        reader.close()


def _default_name(reader) -> str:
    import re

    raw = getattr(reader, "name", None) or Path(str(getattr(reader, "folder", "collection"))).name
    name = re.sub(r"[^a-z0-9_]", "_", raw.lower()).strip("_") or "collection"
    return (name if name[0].isalpha() else f"c_{name}")[:32]


def _open_destination(reader, destination, name, created: bool):
    infos = {space: entry.encoder_info for space, entry in reader.spaces.items()}
    if not created:
        writer = open_collection(destination, name=name)
        try:
            for space, info in infos.items():
                if space not in writer.spaces:
                    raise CollectionError(
                        f"the destination has no space {space!r} (it has {', '.join(writer.spaces)}); "
                        "copy into a new collection instead"
                    )
                writer.spaces[space].check_encoder(info)
        except BaseException:
            writer.close()
            raise
        return writer
    # The default space first, as Collection.create makes it; the others are added after.
    first, *others = sorted(infos, key=lambda space: (space != "text", space))
    writer = create_collection(destination, name=name, encoder=RecordedEncoder(infos[first]), space=first)
    try:
        for space in others:
            writer.add_space(space, RecordedEncoder(infos[space]))
        writer.commit()
    except BaseException:
        writer.close()
        raise
    return writer


def _copy(reader, writer, batch: int, progress, created: bool) -> CopyReport:
    key = _location(reader)
    state = _read_state(writer, key)
    last = int(state.get("last_rowid", -1))
    done = int(state.get("copied", 0))
    total = reader.count()
    result = CopyReport(key, _location(writer), total, skipped=done, resumed=last >= 0, created=created,
                        spaces=sorted(reader.spaces))  # fmt: skip
    folder = not is_postgres(_location(writer))
    pending = 0
    report(progress, done, total)
    for items, vectors in export(reader, after=last, batch=batch):
        last, done = items[-1].rowid, done + len(items)
        if folder:
            writer.add_items(items, vectors=vectors, replace=True)
            pending += len(items)
            if pending >= FOLDER_COMMIT_EVERY:
                writer.commit()
                _write_state(writer, key, {"last_rowid": last, "copied": done})  # after the commit it describes
                pending = 0
        else:
            with writer.transaction():  # the rows and the record of them commit together
                writer.add_items(items, vectors=vectors, replace=True)
                _write_state(writer, key, {"last_rowid": last, "copied": done})
        result.copied += len(items)
        report(progress, done, max(total, done))
    writer.commit()
    _write_state(writer, key, {"last_rowid": last, "copied": done, "complete": True})
    return result


def export(collection, *, after: int = -1, batch: int = 500) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
    """Items past rowid ``after`` in row order with their stored vectors per space, from either store."""
    if hasattr(collection, "export"):
        yield from collection.export(after=after, batch=batch)
        return
    from .store import _COLUMNS, _VISIBLE, _item

    store, view = collection.store, collection.view
    while True:
        rows = store.connection.execute(
            f"SELECT {_COLUMNS} FROM items WHERE rowid > :after AND {_VISIBLE} ORDER BY rowid LIMIT :batch",
            {"gen": view, "after": after, "batch": batch},
        ).fetchall()
        if not rows:
            return
        items = [_item(row) for row in rows]
        vectors = {}
        for name, space in collection.spaces.items():
            members = np.asarray([item.rowid for item in items if item.kind == space.kind], dtype=np.int64)
            if members.size:
                vectors[name] = space.index.vectors(members)
        yield items, vectors
        after = items[-1].rowid


def _location(collection) -> str:
    if hasattr(collection, "location"):
        return collection.location
    return str(Path(collection.folder).resolve())


# --- resume state, kept in the destination ---------------------------------------------------------
def _read_state(writer, key: str) -> dict[str, Any]:
    if hasattr(writer, "location"):
        from .postgres.copy_state import read_state

        return read_state(writer, key)
    path = Path(writer.folder) / STATE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get(key, {})
    except ValueError as error:
        raise CollectionError(f"cannot read the copy state {str(path)!r}: {error}; delete it to copy from the start") from error


def _write_state(writer, key: str, state: dict[str, Any]) -> None:
    if hasattr(writer, "location"):
        from .postgres.copy_state import write_state

        write_state(writer, key, state)
        return
    from .files import write_json_atomically

    path = Path(writer.folder) / STATE_FILE
    everything = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    everything[key] = state
    write_json_atomically(path, everything)
