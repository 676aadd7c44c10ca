"""Copying a collection between stores (folder <-> PostgreSQL, or same kind): items, metadata and
every space's stored vectors, in source row order, never re-encoding.

The sparse side is derived from the texts in both stores (BM25 built at commit; a generated
tsvector column), so copying the texts copies it.

Resumable: after each durable step the destination records, per source collection (its
``collection_id``, so a source rebuilt at the same path starts afresh), the last source row copied
(``Collection.write_copy_state``). A re-run starts after that row. Writes are upserts by id, so re-copying rows a crash left unrecorded is harmless.
A copy is of the source as it is while copying; deleting source items mid-copy is not mirrored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..encoders.base import Encoder, EncoderInfo
from ..errors import CollectionError
from ..progress import ProgressCallback, report
from .registry import collection_exists, create_collection, is_url, open_collection


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
        if destination_name is None and is_url(destination) and "collection=" not in str(destination):
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
    from pathlib import Path

    raw = Path(reader.location.split("?")[0].rstrip("/")).name
    if "collection=" in reader.location:
        raw = reader.location.rsplit("collection=", 1)[1].split("&")[0]
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
    key = reader.collection_id
    state = writer.read_copy_state(key)
    last = int(state.get("last_rowid", -1))
    done = int(state.get("copied", 0))
    total = reader.count()
    result = CopyReport(reader.location, writer.location, total, skipped=done, resumed=last >= 0, created=created,
                        spaces=sorted(reader.spaces))  # fmt: skip
    pending = 0
    report(progress, done, total)
    for items, vectors in reader.export(after=last, batch=batch):
        last, done = items[-1].rowid, done + len(items)
        # The rows and the record of them become durable together, every ``commit_group`` items.
        pending += len(items)
        if pending >= writer.commit_group:
            with writer.transaction():
                writer.add_items(items, vectors=vectors, replace=True)
                writer.write_copy_state(key, {"last_rowid": last, "copied": done})
            pending = 0
        else:
            writer.add_items(items, vectors=vectors, replace=True)
        result.copied += len(items)
        report(progress, done, max(total, done))
    with writer.transaction():
        writer.write_copy_state(key, {"last_rowid": last, "copied": done, "complete": True})
    return result
