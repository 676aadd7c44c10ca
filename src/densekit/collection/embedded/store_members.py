"""Reads of a parent's chunks for the sparse tables (sparse_tables.py): a mixin of ``ContentStore``."""

from __future__ import annotations

import sqlite3
from typing import Any

import numpy as np

#: A row is visible to a reader of generation :gen (store.py explains the generations).
VISIBLE = "added_gen <= :gen AND (deleted_gen IS NULL OR deleted_gen > :gen)"


class MemberReads:
    """Each parent's visible chunks (texts, offsets, summaries) and the sparse document key of rows."""

    connection: sqlite3.Connection

    def text_members(self, parents: list[str], gen: int) -> dict[str, list[tuple[int, str, tuple[int, int] | None]]]:
        """Each parent's visible text chunks: (rowid, text, (start, end) or None), in row order."""
        return {parent: [(rowid, text, (begin, end) if begin is not None and end is not None else None)
                         for rowid, begin, end, text in rows]
                for parent, rows in self._members(parents, gen, "text").items()}

    def member_spans(self, parents: list[str], gen: int) -> dict[str, list[tuple[int, int | None, int | None]]]:
        """Each parent's visible text chunks as (rowid, start, end), without their texts."""
        return {parent: [(rowid, begin, end) for rowid, begin, end, _ in rows]
                for parent, rows in self._members(parents, gen, "NULL").items()}

    def member_summaries(self, parents: list[str], gen: int, skip: tuple[int, int]) -> dict[str, tuple[int, int, Any, Any, int]]:
        """Each parent's visible text chunks outside the row ids ``skip`` (first, last) summed up:
        (count, smallest row id, largest start, largest end, chunks without offsets); what appending
        to a long document needs, without a row per chunk in memory."""
        found: dict[str, tuple[int, int, Any, Any, int]] = {}
        visible = VISIBLE.replace(":gen", str(int(gen)))
        for start in range(0, len(parents), 500):
            part = parents[start : start + 500]
            marks = ", ".join("?" for _ in part)
            for parent, *summary in self.connection.execute(
                f"SELECT parent, COUNT(*), MIN(rowid), MAX(start), MAX(end), SUM(start IS NULL OR end IS NULL)"
                f" FROM items WHERE parent IN ({marks}) AND kind = 'text' AND text IS NOT NULL AND {visible}"
                f" AND NOT (rowid BETWEEN ? AND ?) GROUP BY parent", [*part, int(skip[0]), int(skip[1])]):
                found[parent] = tuple(summary)
        return found

    def _members(self, parents: list[str], gen: int, text_column: str) -> dict[str, list[tuple]]:
        found: dict[str, list] = {}
        visible = VISIBLE.replace(":gen", str(int(gen)))
        for start in range(0, len(parents), 500):
            part = parents[start : start + 500]
            marks = ", ".join("?" for _ in part)
            for rowid, parent, begin, end, text in self.connection.execute(
                f"SELECT rowid, parent, start, end, {text_column} FROM items WHERE parent IN ({marks}) AND kind = 'text'"
                f" AND text IS NOT NULL AND {visible} ORDER BY rowid", part):
                found.setdefault(parent, []).append((int(rowid), begin, end, text))
        return found

    def parents_of(self, rowids: list[int]) -> dict[int, str | None]:
        found: dict[int, str | None] = {}
        for start in range(0, len(rowids), 500):
            part = [int(rowid) for rowid in rowids[start : start + 500]]
            marks = ", ".join("?" for _ in part)
            found.update((int(rowid), parent) for rowid, parent in self.connection.execute(
                f"SELECT rowid, parent FROM items WHERE rowid IN ({marks})", part))
        return found

    def document_keys(self, rowids: np.ndarray, gen: int) -> np.ndarray:
        """The sparse document keys of these rows: a row without a parent is its own document; the
        chunks of a parent share its smallest visible text row id."""
        parent_of = self.parents_of(rowids.tolist())
        keys = [rowid for rowid, parent in parent_of.items() if parent is None]
        parents = sorted({parent for parent in parent_of.values() if parent is not None})
        visible = VISIBLE.replace(":gen", str(int(gen)))
        for start in range(0, len(parents), 500):
            part = parents[start : start + 500]
            marks = ", ".join("?" for _ in part)
            keys += [int(row[0]) for row in self.connection.execute(
                f"SELECT MIN(rowid) FROM items WHERE parent IN ({marks}) AND kind = 'text' AND text IS NOT NULL"
                f" AND {visible} GROUP BY parent", part)]
        return np.asarray(sorted(keys), dtype=np.int64)
