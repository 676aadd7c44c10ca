"""Where ``densekit copy`` records its progress in a PostgreSQL destination: NAME_copy_state."""

from __future__ import annotations

from typing import Any

from .schema import identifiers


def read_state(connection, name: str, source: str) -> dict[str, Any]:
    """The recorded progress of copying ``source`` into collection ``name`` ({} when none)."""
    from psycopg import sql

    if not connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}_copy_state"',)).fetchone()[0]:
        return {}
    query = sql.SQL("SELECT state FROM {} WHERE source = %s").format(identifiers(name)["copy_state"])
    row = connection.execute(query, (source,)).fetchone()
    return row[0] if row else {}


def write_state(connection, name: str, source: str, state: dict[str, Any]) -> None:
    """Record progress (inside the caller's transaction)."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    table = identifiers(name)["copy_state"]
    connection.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (source TEXT PRIMARY KEY, state JSONB NOT NULL)").format(table))
    connection.execute(
        sql.SQL("INSERT INTO {} (source, state) VALUES (%s, %s) ON CONFLICT (source) DO UPDATE SET state = EXCLUDED.state").format(table),
        (source, Jsonb(state)),
    )
