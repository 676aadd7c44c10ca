"""Vectors live in the content store; each space's vector index is a checkpoint of them.

A commit writes its rows' vectors into SQLite (table ``vectors``) in the same transaction as the rows,
so it costs its batch, not the collection. A space's index file is a checkpoint: the index as it was
at one generation (recorded in the manifest with the space's vector key). Opening loads the checkpoint
and replays the generations after it from SQLite: rows added since are added, rows deleted since are
removed (deleted rows stay in SQLite until a checkpoint covers their deletion). A reader already
holding the index replays only the generations it has not seen. A new checkpoint is written when
the rows replayed on open have grown to a fraction of the checkpoint (``checkpoint_due``), so the
cost per row stays constant on average and opening stays bounded.
"""

from __future__ import annotations

import os

import numpy as np

#: A new checkpoint once the rows changed since the last one exceed this share of its rows ...
CHECKPOINT_FRACTION = 0.5
#: ... and this many rows (below it, replaying on open costs milliseconds).
CHECKPOINT_MIN_ROWS = 20_000


def vector_key(space: str, generation: int) -> str:
    """The name a space's vectors are stored under: a re-encoded or re-added space gets a new one, so
    readers of the old generation still replay the old vectors."""
    return f"{space}@{generation}"


def checkpoint_due(checkpoint_rows: int, tail_rows: int) -> bool:
    """True when the rows changed since the last checkpoint call for writing the whole index again."""
    fraction = float(os.environ.get("DENSEKIT_CHECKPOINT_FRACTION", CHECKPOINT_FRACTION))
    minimum = int(os.environ.get("DENSEKIT_CHECKPOINT_MIN_ROWS", CHECKPOINT_MIN_ROWS))
    return tail_rows > max(minimum, fraction * checkpoint_rows)


def replay(store, index, key: str, after: int, through: int) -> int:
    """Apply generations (after, through] from the content store to ``index``; returns the rows changed."""
    removed = store.removed_between(after, through)
    if len(removed):
        index.remove(removed)
    changed = len(removed)
    for rowids, vectors in store.vectors_added_between(key, after, through, index.dimension):
        index.add(rowids, vectors)
        changed += len(rowids)
    return changed


def rebuild(store, index, key: str, view: int, kind: str) -> int:
    """Fill an empty index with every visible row's stored vector (a repair without re-encoding)."""
    count = 0
    for batch in store.iterate(view, kind=kind):
        rowids = np.asarray([item.rowid for item in batch], dtype=np.int64)
        vectors = store.vectors_of(key, rowids, index.dimension)
        index.add(rowids, vectors)
        count += len(rowids)
    return count
