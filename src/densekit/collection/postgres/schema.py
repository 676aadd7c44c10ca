"""Tables of one collection in PostgreSQL, and its manifest row.

A collection NAME owns three tables:
    NAME_items       one row per item: content, JSONB metadata, a generated tsvector for full-text
                     search, and one ``vector(dim)`` column per space (``vec_SPACE``) with an HNSW index
    NAME_manifest    one JSONB row: format version, each space's encoder info and index settings
    NAME_copy_state  written only by ``densekit copy``: the last source row copied (for resuming)
"""

from __future__ import annotations

import re
from typing import Any

from ...errors import CollectionError, InvalidInputError

FORMAT_VERSION = 1
#: Text search configuration of the sparse side (stemming, stop words).
TEXT_SEARCH_CONFIG = "english"
HNSW_PARAMS = {"m": 16, "ef_construction": 64}  # pgvector's defaults: each insert updates the graph
#: Candidates per HNSW search (the embedded store's default too); pgvector's own default, 40,
#: gave recall@10 0.88 on 10k 384-d items (benchmarks/postgres_speed.py).
EF_SEARCH = 96
# Identifiers are at most 63 bytes: NAME (32) + "_" + SPACE (24) + "_hnsw" fits.
_LIMITS = {"collection": 32, "space": 24}


def check_name(name: Any, what: str = "collection") -> str:
    """Collection and space names become parts of identifiers: lower-case letters, digits and '_'.

    Example:
        >>> check_name("news_2024")
        'news_2024'
    """
    longest = _LIMITS[what]
    if not isinstance(name, str) or not re.fullmatch(rf"[a-z][a-z0-9_]{{0,{longest - 1}}}", name):
        raise InvalidInputError(
            f"{what} name {name!r} is not allowed in PostgreSQL; use 1-{longest} lower-case letters, "
            "digits or '_', starting with a letter"
        )
    return name


def identifiers(name: str) -> dict[str, Any]:
    """Quoted identifiers for the collection's tables (psycopg.sql objects)."""
    from psycopg import sql

    return {
        "items": sql.Identifier(f"{name}_items"),
        "manifest": sql.Identifier(f"{name}_manifest"),
        "copy_state": sql.Identifier(f"{name}_copy_state"),
        "keys": sql.Identifier(f"{name}_keys"),
    }


def vector_column(space: str) -> str:
    return f"vec_{check_name(space, 'space')}"


def new_manifest(name: str) -> dict[str, Any]:
    import uuid

    return {
        "format": FORMAT_VERSION,
        "id": uuid.uuid4().hex,
        "store": "postgres",
        "name": name,
        "spaces": {},
        "sparse": {"engine": "postgres-full-text", "config": TEXT_SEARCH_CONFIG},
    }


def exists(connection, name: str) -> bool:
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}_manifest"',)).fetchone()
    return bool(row[0])


def create_tables(connection, name: str) -> None:
    """Create the items and manifest tables (inside the caller's transaction)."""
    from psycopg import sql

    names = identifiers(name)
    connection.execute(
        sql.SQL(
            """
            CREATE TABLE {items} (
                rowid BIGSERIAL PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                kind TEXT NOT NULL DEFAULT 'text',
                text TEXT,
                metadata JSONB NOT NULL DEFAULT '{{}}',
                parent TEXT,
                start INTEGER,
                "end" INTEGER,
                hash TEXT,
                search TSVECTOR GENERATED ALWAYS AS (to_tsvector({config}, coalesce(text, ''))) STORED
            )
            """
        ).format(items=names["items"], config=sql.Literal(TEXT_SEARCH_CONFIG))
    )
    connection.execute(sql.SQL("CREATE INDEX ON {} (parent)").format(names["items"]))
    connection.execute(sql.SQL("CREATE INDEX ON {} USING gin (search)").format(names["items"]))
    connection.execute(sql.SQL("CREATE INDEX ON {} USING gin (metadata jsonb_path_ops)").format(names["items"]))
    connection.execute(
        sql.SQL("CREATE TABLE {} (one INTEGER PRIMARY KEY DEFAULT 1 CHECK (one = 1), manifest JSONB NOT NULL)").format(
            names["manifest"]
        )
    )


def has_key_counts(connection, name: str) -> bool:
    row = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}_keys"',)).fetchone()
    return bool(row[0])


def create_key_counts(connection, name: str) -> None:
    """NAME_keys: each metadata key and how many items have it, kept by a trigger in every write's own
    transaction (so ``info`` never scans); filled from the rows already there (older collections)."""
    from psycopg import sql

    names = identifiers(name)
    function = sql.Identifier(f"{name}_count_keys")
    connection.execute(sql.SQL("CREATE TABLE {} (key TEXT PRIMARY KEY, count BIGINT NOT NULL)").format(names["keys"]))
    connection.execute(
        sql.SQL("INSERT INTO {} SELECT key, count(*) FROM {}, jsonb_object_keys(metadata) AS key GROUP BY key").format(
            names["keys"], names["items"]
        )
    )
    connection.execute(
        sql.SQL(
            """
            CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('DELETE', 'UPDATE') THEN
                    UPDATE {keys} AS k SET count = k.count - 1
                    FROM jsonb_object_keys(OLD.metadata) AS gone(key) WHERE k.key = gone.key;
                END IF;
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    INSERT INTO {keys} (key, count) SELECT key, 1 FROM jsonb_object_keys(NEW.metadata) AS key
                    ON CONFLICT (key) DO UPDATE SET count = {keys}.count + 1;
                END IF;
                RETURN NULL;
            END $$
            """
        ).format(function=function, keys=names["keys"])
    )
    connection.execute(
        sql.SQL("CREATE TRIGGER {} AFTER INSERT OR DELETE OR UPDATE OF metadata ON {} FOR EACH ROW EXECUTE FUNCTION {}()").format(
            sql.Identifier(f"{name}_keys_trigger"), names["items"], function
        )
    )


def add_vector_column(connection, name: str, space: str, dimension: int) -> dict[str, Any]:
    """Add a space's vector column and its HNSW index (inner product); returns the index entry."""
    from psycopg import sql

    column = vector_column(space)
    items = identifiers(name)["items"]
    connection.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN {} vector({})").format(items, sql.Identifier(column), sql.Literal(int(dimension)))
    )
    connection.execute(
        sql.SQL("CREATE INDEX {} ON {} USING hnsw ({} vector_ip_ops) WITH (m = {}, ef_construction = {})").format(
            sql.Identifier(f"{name}_{space}_hnsw"),
            items,
            sql.Identifier(column),
            sql.Literal(HNSW_PARAMS["m"]),
            sql.Literal(HNSW_PARAMS["ef_construction"]),
        )
    )
    return {"kind": "hnsw", "metric": "ip", "column": column, "params": {**HNSW_PARAMS, "ef_search": EF_SEARCH}}


def read_manifest(connection, name: str, where: str, *, lock: str | None = None) -> dict[str, Any]:
    """The collection's manifest. ``lock`` "update" (schema changes) or "share" (writes) holds its
    row until the transaction ends, so no space is added while a write is under way."""
    from psycopg import sql

    if not exists(connection, name):
        raise CollectionError(f"no collection {name!r} in {where}; create it first")
    suffix = {None: "", "share": " FOR SHARE", "update": " FOR UPDATE"}[lock]
    query = sql.SQL("SELECT manifest FROM {}" + suffix).format(identifiers(name)["manifest"])
    row = connection.execute(query).fetchone()
    if row is None:
        raise CollectionError(f"collection {name!r} in {where} has no manifest row; it was not created completely")
    manifest = row[0]
    version = manifest.get("format")
    if version != FORMAT_VERSION:
        raise CollectionError(
            f"collection {name!r} in {where} has format version {version!r}; this densekit reads version {FORMAT_VERSION}"
        )
    return manifest


def write_manifest(connection, name: str, manifest: dict[str, Any], *, insert: bool = False) -> None:
    from psycopg import sql
    from psycopg.types.json import Jsonb

    table = identifiers(name)["manifest"]
    if insert:
        connection.execute(sql.SQL("INSERT INTO {} (manifest) VALUES (%s)").format(table), (Jsonb(manifest),))
    else:
        connection.execute(sql.SQL("UPDATE {} SET manifest = %s").format(table), (Jsonb(manifest),))


def drop(connection, name: str) -> None:
    """Remove a collection's tables (tests, and replacing a collection on purpose)."""
    from psycopg import sql

    for table in identifiers(name).values():
        connection.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(table))
    connection.execute(sql.SQL("DROP FUNCTION IF EXISTS {}").format(sql.Identifier(f"{name}_count_keys")))
