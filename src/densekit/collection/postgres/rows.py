"""Row-level SQL for the items table: insert / upsert with vectors, fetch, export in row order."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from ..items import Item
from .schema import identifiers, vector_column

COLUMNS = ("rowid", "id", "kind", "text", "metadata", "parent", "start", "end", "hash")
_WRITTEN = ("id", "kind", "text", "metadata", "parent", "start", "end", "hash")


def select_columns():
    from psycopg import sql

    return sql.SQL(", ").join(sql.Identifier(column) for column in COLUMNS)


def item_from_row(row: tuple) -> Item:
    rowid, id_, kind, text, metadata, parent, start, end, hash_ = row[:9]
    return Item(id_, text, metadata, parent, start, end, kind, hash_, int(rowid))


def write_items(
    connection, name: str, items: list[Item], vectors: dict[str, np.ndarray], spaces: dict[str, str], *, replace: bool
) -> None:
    """Insert items with their vectors (``spaces``: space -> kind). ``replace`` updates rows with the same id.

    A space's column stays NULL for items of another kind; on replace it is cleared, as a replaced
    item is a new item.
    """
    from psycopg import sql
    from psycopg.types.json import Jsonb

    names = list(spaces)
    positions = {space: _positions(items, kind) for space, kind in spaces.items()}
    rows = []
    for index, item in enumerate(items):
        row: list[Any] = [item.id, item.kind, item.text, Jsonb(item.metadata), item.parent, item.start, item.end, item.hash]
        for space in names:
            position = positions[space].get(index)
            given = vectors.get(space)
            row.append(None if position is None or given is None else given[position])
        rows.append(row)
    columns = [*_WRITTEN, *(vector_column(space) for space in names)]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        identifiers(name)["items"],
        sql.SQL(", ").join(sql.Identifier(column) for column in columns),
        sql.SQL(", ").join([sql.Placeholder()] * len(_WRITTEN) + [sql.SQL("%b")] * len(names)),
    )
    if replace:
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(column)) for column in columns if column != "id"
        )
        query = sql.SQL("{} ON CONFLICT (id) DO UPDATE SET {}").format(query, updates)
    with connection.cursor() as cursor:
        cursor.executemany(query, rows)


def _positions(items: list[Item], kind: str) -> dict[int, int]:
    """Item index -> row in that kind's vector array (vectors are given per space for its kind only)."""
    members = [index for index, item in enumerate(items) if item.kind == kind]
    return {index: position for position, index in enumerate(members)}


def existing_ids(connection, name: str, ids: list[str]) -> list[str]:
    from psycopg import sql

    query = sql.SQL("SELECT id FROM {} WHERE id = ANY(%s)").format(identifiers(name)["items"])
    return [row[0] for row in connection.execute(query, (ids,))]


def by_rowids(connection, name: str, rowids: list[int]) -> dict[int, Item]:
    from psycopg import sql

    if not rowids:
        return {}
    query = sql.SQL("SELECT {} FROM {} WHERE rowid = ANY(%s)").format(select_columns(), identifiers(name)["items"])
    return {item.rowid: item for item in map(item_from_row, connection.execute(query, (rowids,)))}


def by_ids(connection, name: str, ids: list[str], spaces: dict[str, str]) -> list[Item]:
    """The items with these ids; with ``spaces`` (space -> kind) each carries its vectors in ``vectors``."""
    from psycopg import sql

    vector_columns = [sql.Identifier(vector_column(space)) for space in spaces]
    selected = sql.SQL(", ").join([select_columns(), *vector_columns])
    query = sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(selected, identifiers(name)["items"])
    items = []
    for row in connection.execute(query, (ids,), binary=True).fetchall():
        item = item_from_row(row)
        if spaces:
            item.vectors = {
                space: np.asarray(_as_array(row[len(COLUMNS) + offset]), dtype=np.float32)
                for offset, (space, kind) in enumerate(spaces.items())
                if kind == item.kind and row[len(COLUMNS) + offset] is not None
            }
        items.append(item)
    return items


def id_page(connection, name: str, after: int, limit: int) -> list[tuple[int, str]]:
    from psycopg import sql

    query = sql.SQL("SELECT rowid, id FROM {} WHERE rowid > %s ORDER BY rowid LIMIT %s").format(identifiers(name)["items"])
    return [(int(rowid), id_) for rowid, id_ in connection.execute(query, (after, limit)).fetchall()]


def export(
    connection, name: str, spaces: dict[str, str], *, after: int = -1, batch: int = 500, kind: str | None = None
) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
    """Items in row order past rowid ``after``, ``batch`` at a time, with each space's vectors
    (rows of that space's kind, in item order). Keyset pagination: no long-lived cursor to hold open."""
    from psycopg import sql

    vector_columns = [sql.Identifier(vector_column(space)) for space in spaces]
    selected = sql.SQL(", ").join([select_columns(), *vector_columns])
    condition = sql.SQL("") if kind is None else sql.SQL(" AND kind = %(kind)s")
    query = sql.SQL("SELECT {} FROM {} WHERE rowid > %(after)s{} ORDER BY rowid LIMIT %(batch)s").format(
        selected, identifiers(name)["items"], condition
    )
    while True:
        rows = connection.execute(query, {"after": after, "batch": batch, "kind": kind}, binary=True).fetchall()
        if not rows:
            return
        items = [item_from_row(row) for row in rows]
        vectors = {}
        for offset, (space, space_kind) in enumerate(spaces.items()):
            found = [row[len(COLUMNS) + offset] for row, item in zip(rows, items) if item.kind == space_kind]
            if found:
                vectors[space] = np.stack([np.asarray(_as_array(vector), dtype=np.float32) for vector in found])
        yield items, vectors
        after = items[-1].rowid


def _as_array(vector: Any) -> np.ndarray:
    return vector.to_numpy() if hasattr(vector, "to_numpy") else np.asarray(vector)
