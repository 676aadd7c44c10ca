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
        # A keyless server answers only loopback Host names (DNS-rebinding defence), not "testserver".
        client = TestClient(create_app(make_settings(**overrides)), base_url="http://127.0.0.1")
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



@pytest.fixture(scope="session")
def tiny_reader_path(tmp_path_factory, minilm_path) -> Path:
    """A small, untrained BertForQuestionAnswering with MiniLM's tokenizer (no reader weights exist here).

    Its answers are arbitrary spans, which is all the route tests need: every answer must be an
    exact slice of its passage.
    """
    import shutil

    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    folder = tmp_path_factory.mktemp("tiny-reader")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    BertForQuestionAnswering(config).save_pretrained(str(folder))
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm_path / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def tiny_clip_model(tmp_path_factory) -> Path:
    """A small untrained CLIP (real architecture, tokenizer and processor) saved to a folder."""
    from densekit.images.tiny import build_tiny_clip

    return build_tiny_clip(tmp_path_factory.mktemp("server-clip") / "tiny-clip")


@pytest.fixture
def photos_root(tmp_path, tiny_clip_model) -> Path:
    """A root folder holding ``photos``: five coloured pictures indexed into an image space."""
    from PIL import Image

    from densekit.encoders.clip import load_clip_encoder
    from densekit.images import index_images

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    colours = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "stripes": None, "dots": None}
    for position, (name, colour) in enumerate(colours.items()):
        image = Image.new("RGB", (64, 48), colour or (255, 255, 255))
        if colour is None:
            for x in range(0, 64, 4 + position):
                for y in range(48):
                    image.putpixel((x, y), (position * 40, 0, 0))
        image.save(pictures / f"{name}.png")
    root = tmp_path / "roots"
    with Collection.create(root / "photos", encoder=load_clip_encoder(str(tiny_clip_model)), space="images") as target:
        report = index_images(target, [pictures])
        assert report.added == 5, report.as_dict()
    return root
