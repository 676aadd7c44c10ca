"""Server fixtures: a small hashing-encoder collection, app/client builders and a live uvicorn server."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

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
MODEL = "hashing:64"


@pytest.fixture
def collections_root(tmp_path, hashing_encoder) -> Path:
    """A folder holding one committed collection, ``pets`` (six texts, hashing encoder)."""
    root = tmp_path / "collections"
    with Collection.create(root / "pets", encoder=hashing_encoder) as target:
        target.add([t for _, t, _ in TEXTS], ids=[i for i, _, _ in TEXTS], metadata=[m for _, _, m in TEXTS])
    return root


@pytest.fixture
def make_settings(collections_root) -> Callable:
    """Settings serving ``pets`` with the hashing model; keyword arguments override fields."""
    from densekit.server import ServerSettings

    def build(**overrides):
        values = {"collections": {"pets": collections_root / "pets"}, "default_model": MODEL}
        values.update(overrides)
        return ServerSettings(**values)

    return build


@pytest.fixture
def make_client(make_settings) -> Callable:
    """A TestClient (lifespan run) over ``create_app(make_settings(**overrides))``; closed after the test."""
    from fastapi.testclient import TestClient

    from densekit.server import create_app

    clients = []

    def build(**overrides):
        client = TestClient(create_app(make_settings(**overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client):
    return make_client()


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(make_settings) -> Callable:
    """``live_server(**overrides)`` -> a started LiveServer (stopped after the test)."""
    from densekit.server import create_app

    servers = []

    def start(**overrides):
        server = LiveServer(create_app(make_settings(**overrides))).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)

