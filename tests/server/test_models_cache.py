"""The service picks the same default backend as the library for models no collection has loaded."""

from __future__ import annotations

from densekit.encoders.hashing import HashingEncoder
from densekit.server.models_cache import ModelCache


def test_unnamed_backend_is_the_library_default(minilm_path, monkeypatch):
    calls = []

    def loader(reference, backend):
        calls.append((reference, backend))
        return HashingEncoder(8)

    monkeypatch.delenv("DENSEKIT_BACKEND", raising=False)
    cache = ModelCache(loader)
    cache.get(str(minilm_path))
    cache.get("hashing:8")
    assert calls == [(str(minilm_path), "onnx-int8-row"), ("hashing:8", "torch")]
    monkeypatch.setenv("DENSEKIT_BACKEND", "onnx")
    cache.get("other", None)
    assert calls[-1] == ("other", "onnx")


def test_the_server_keeps_at_most_max_models_and_reloads_a_released_one():
    calls = []

    def loader(reference, backend):
        calls.append(reference)
        return HashingEncoder(8)

    cache = ModelCache(loader, max_models=2)
    released = []
    cache.on_release(lambda key: released.append(key[1]))
    first = cache.get("hashing:8", "hashing")
    first.encode(["warm the worker up"])
    worker = first.batches._thread
    cache.get("b", "hashing")
    cache.get("c", "hashing")  # past the limit: "hashing:8" was used least recently
    assert released == ["hashing:8"] and [key[1] for key in cache.models.loaded()] == ["b", "c"]
    worker.join(timeout=5)
    assert not worker.is_alive()  # its batching worker stopped, so the model can be freed
    assert first.encode(["a holder still encodes"]).shape == (1, 8)  # a request holding it finishes
    assert cache.get("hashing:8", "hashing") is not first and calls == ["hashing:8", "b", "c", "hashing:8"]
    cache.close()


def test_a_released_model_retires_the_collection_handles_that_hold_it(tmp_path):
    from pathlib import Path

    from densekit.collection import Collection
    from densekit.server.registry import CollectionRegistry
    from densekit.server.settings import ServerSettings

    with Collection.create(tmp_path / "notes", model="hashing:16") as collection:
        collection.add(["a cat sat", "markets fell"], ids=["cat", "markets"])
    cache = ModelCache(max_models=1)
    registry = CollectionRegistry(ServerSettings(collections={"notes": Path(tmp_path / "notes")}), cache)
    handles = registry.handles("notes")
    with handles.reader() as reader:
        used = reader.encoder()
        assert reader.search("a cat sat", k=1)[0].id == "cat"
    cache.get("hashing:8", "hashing")  # the only slot: the collection's model is released
    with handles.reader() as reader:
        assert reader.encoder() is not used  # reopened with a freshly loaded model
        assert reader.search("markets fell", k=1)[0].id == "markets"
    registry.close()
    cache.close()
