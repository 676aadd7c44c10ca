"""Fixtures of the PostgreSQL store's own tests; the server itself (``pg_server``, ``pg_url``,
``pg_name``) is the whole suite's, in tests/conftest.py.
"""

from __future__ import annotations

import pytest

TEXTS = [
    ("cat-1", "The cat sat on the warm mat by the fire.", {"animal": "cat", "year": 2001}),
    ("cat-2", "A kitten chased the cat around the garden.", {"animal": "cat", "year": 2005}),
    ("dog-1", "The dog barked at the postman every morning.", {"animal": "dog", "year": 2003}),
    ("dog-2", "Dogs love long walks in the park.", {"animal": "dog", "year": 2010}),
    ("fin-1", "Stock markets fell sharply after the bank raised interest rates.", {"topic": "finance", "year": 2008}),
    ("fin-2", "The central bank kept interest rates unchanged.", {"topic": "finance", "year": 2012}),
]
@pytest.fixture(scope="session")
def pg_replica(pg_server):
    """A streaming hot standby of ``pg_server`` (pg_basebackup -R), started on first use."""
    replica = pg_server.start_replica(pg_server.folder.parent / "replica")
    try:
        yield replica
    finally:
        replica.stop()


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
