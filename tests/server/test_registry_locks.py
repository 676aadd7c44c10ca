"""The registry's locks against the model cache's evictions: opening a handle or closing the server
loads models, a model evicted then calls back into the registry (``_model_released``), and no lock
may be held across that. Each scenario runs in a thread with a deadline, so a deadlock fails the test
instead of hanging the suite."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from densekit.collection import Collection
from densekit.encoders.factory import load_encoder
from densekit.errors import CollectionError
from densekit.server import ServerSettings, create_app
from densekit.server.models_cache import ModelCache, _load


def finishes(work, seconds: float = 30.0) -> dict:
    """Run ``work()`` in a daemon thread; its result (or error) once done, or fail after ``seconds``."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = work()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still waiting after {seconds:.0f} s: a deadlock")
    return outcome


def test_a_collection_whose_models_do_not_all_fit_the_cache_opens(tmp_path):
    """Its read handle loads a second model, which evicts the first: the release calls retire(),
    which takes the handles' open lock; opening held it (the first write never answered)."""
    with Collection.create(tmp_path / "a", model="hashing:64") as collection:
        collection.add(["a seed note"], ids=["seed"])
        collection.add_space("alt", load_encoder("hashing:32"))
    app = create_app(ServerSettings(collections={"a": tmp_path / "a"}, default_model="hashing:64"),
                     models=ModelCache(max_models=1))
    client = TestClient(app, base_url="http://127.0.0.1")
    client.__enter__()  # left open if the request deadlocks: closing would wait on the same locks
    outcome = finishes(lambda: client.post("/collections/a/documents", json={"documents": [{"id": "n", "text": "a new note"}]}))
    assert outcome["result"].status_code == 201, outcome["result"].text
    found = client.post("/collections/a/search", json={"query": "a new note", "k": 1}).json()["hits"]
    assert [hit["id"] for hit in found] == ["n"]
    client.__exit__(None, None, None)


def test_shutting_down_while_a_writer_loads_a_model_finishes_and_answers_it(tmp_path):
    """The registry closed its collections holding its lock, and waited for a writer thread that was
    loading a model; the model it evicted called _model_released, which waited for that lock."""
    for name, model in (("a", "hashing:64"), ("b", "hashing:32")):
        with Collection.create(tmp_path / name, model=model) as collection:
            collection.add(["a seed note"], ids=["seed"])
    loading = threading.Event()

    def slow_loader(reference, backend):
        if reference.endswith(":32"):
            loading.set()
            time.sleep(1.0)  # any real model takes a moment
        return _load(reference, backend)

    app = create_app(ServerSettings(collections={"a": tmp_path / "a", "b": tmp_path / "b"}, default_model="hashing:64"),
                     models=ModelCache(loader=slow_loader, max_models=1))
    client = TestClient(app, base_url="http://127.0.0.1")
    client.__enter__()
    assert client.post("/collections/a/search", json={"query": "note"}).status_code == 200  # hashing:64 loaded
    registry = app.state.registry
    writes = registry.handles("b").writes
    written: dict = {}
    writer = threading.Thread(target=lambda: written.update(finishes(lambda: writes.submit(
        lambda target: target.add(["a late note"], ids=["late"])))), daemon=True)
    writer.start()
    assert loading.wait(30)  # b's writer is opening: loading hashing:32 evicts hashing:64
    finishes(lambda: client.__exit__(None, None, None))
    writer.join(30)
    assert written["result"][0] == ["late"]  # queued before the shutdown: committed and answered
    with Collection.open(tmp_path / "b", readonly=True) as reader:
        assert reader.get("late") is not None
    with pytest.raises(CollectionError, match="shutting down"):
        registry.handles("a")  # a request still running after shutdown opens nothing again
