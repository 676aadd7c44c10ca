"""A flat space's checkpoint written by streaming, without loading the index.

A flat index is its vectors in row order, so the next checkpoint is the previous one's vectors minus
the rows deleted since, followed by the rows added since (from SQLite, in row order): the same file
that loading the checkpoint, replaying the tail and saving writes (vector_log.py), built a megabyte at
a time. Loading held a second copy of the index beside the writer's (1.5 GB at 1M x 384) and faulted
it in from fresh memory, 13 s of a job on this machine; streaming holds the ids and one block.
An HNSW graph must be loaded to insert into, so HNSW spaces are still checkpointed by loading.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CollectionError
from ...files import open_syncing
from ...index.npz_stream import member_shape, read_member, skip_header, write_member

#: Bytes of vectors copied per step.
_BLOCK = 1 << 20


def can_stream(folder: Path, entry: dict[str, Any]) -> bool:
    """True for a flat space whose checkpoint stores its vectors as a plain array (npz_stream.py)."""
    index = entry["index"]
    if index.get("kind") != "flat" or not index.get("vectors") or not index.get("file"):
        return False
    with zipfile.ZipFile(folder / index["file"]) as archive:
        return "vectors.npy" in archive.namelist() and "index.npy" not in archive.namelist()


def write_streamed(folder: Path, entry: dict[str, Any], store, through: int, target: Path) -> None:
    """Write the checkpoint of generation ``through`` to ``target`` from the previous checkpoint and
    the content store ``store``; raises CollectionError when the result would not hold the
    manifest's count (``write_atomically`` then leaves nothing behind)."""
    index = entry["index"]
    dimension = int(entry["encoder"]["dimension"])
    after, key = int(index.get("generation", 0)), index["vectors"]
    with zipfile.ZipFile(folder / index["file"]) as previous:
        shape, dtype = member_shape(previous, "vectors")
        labels = read_member(previous, "labels").astype(np.int64)
        if dtype != np.float32 or shape != (labels.size, dimension):
            raise CollectionError(f"checkpoint {index['file']!r}: vectors of shape {shape}, expected ({labels.size}, {dimension})")
        keep = ~np.isin(labels, store.removed_between(after, through))
        # The .npy header needs the count before the rows: the manifest's, checked against what the
        # content store yields below (a checkpoint that is not this collection's is never extended).
        total = int(entry["count"])
        added = total - int(keep.sum())
        if added < 0:
            raise CollectionError(_mismatch(index["file"], int(keep.sum()), total))
        ids = [labels[keep]]
        with open_syncing(target) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive:
            write_member(archive, "meta", read_member(previous, "meta"))
            with archive.open("vectors.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(
                    member, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                             "shape": (total, dimension)})
                _copy_kept(previous, member, keep, dimension)
                written = 0
                for rowids, vectors in store.vectors_added_between(key, after, through, dimension):
                    member.write(memoryview(np.ascontiguousarray(vectors, dtype=np.float32)).cast("B"))
                    ids.append(rowids)
                    written += len(rowids)
                if written != added:
                    raise CollectionError(_mismatch(index["file"], int(keep.sum()) + written, total))
            write_member(archive, "labels", np.concatenate(ids))
            write_member(archive, "live", np.ones(total, dtype=bool))


def _copy_kept(previous: zipfile.ZipFile, member, keep: np.ndarray, dimension: int) -> None:
    """Copy the previous checkpoint's vectors of the rows ``keep`` marks, a block at a time."""
    row_bytes = dimension * 4
    rows_per_block = max(1, _BLOCK // row_bytes)
    with previous.open("vectors.npy") as source:
        skip_header(source)
        for start in range(0, keep.size, rows_per_block):
            mask = keep[start : start + rows_per_block]
            block = source.read(mask.size * row_bytes)
            if len(block) != mask.size * row_bytes:
                raise CollectionError("a checkpoint's vectors end early (a truncated file)")
            if mask.all():
                member.write(block)
            elif mask.any():
                rows = np.frombuffer(block, dtype=np.float32).reshape(mask.size, dimension)
                member.write(memoryview(np.ascontiguousarray(rows[mask])).cast("B"))


def _mismatch(file: str, found: int, counted: int) -> str:
    return f"space checkpoint {file!r} and the content store give {found} vectors, the manifest counts {counted}"
