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
