"""Models: the one owner of loaded models; shared copies, release, least-recently-used limit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from densekit.errors import InvalidInputError
from densekit.loaded_models import Models, default_models


def test_one_copy_per_key_until_released():
    models = Models()
    first = models.encoder("hashing:32")
    assert models.encoder("hashing:32") is first and first.dimension == 32
    assert models.loaded() == [("encoder", "hashing:32", "torch")]
    assert models.release("hashing:32") == 1 and models.loaded() == []
    assert models.encoder("hashing:32") is not first


def test_least_recently_used_is_released_past_the_limit():
    released = []
    models = Models(max_models=2)
    models.on_release = lambda key, model: released.append(key[1])
    builds = []
    for name in ("a", "b", "a", "c"):  # "a" used again: "b" is the least recently used
        models.get(("encoder", name, "x"), lambda name=name: builds.append(name) or object())
    assert builds == ["a", "b", "c"] and released == ["b"]
    assert [key[1] for key in models.loaded()] == ["a", "c"]
    assert models.peek(("encoder", "a", "x")) is not None and models.loaded()[0][1] == "a"  # peek is no use


def test_release_by_kind_and_backend():
    models = Models()
    for key in (("encoder", "m", "torch"), ("encoder", "m", "onnx"), ("reader", "m", None)):
        models.get(key, object)
    assert models.release(kind="encoder", backend="onnx") == 1
    assert models.release("m") == 2 and models.release() == 0


def test_a_model_is_built_once_under_concurrent_first_use():
    calls = []

    def build():
        calls.append(threading.get_ident())
        time.sleep(0.05)
        return object()

    models = Models()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: models.get(("encoder", "slow", None), build), range(8)))
    assert len(calls) == 1 and all(model is got[0] for model in got)


def test_bad_limit_and_the_library_default():
    with pytest.raises(InvalidInputError, match="max_models must be >= 1"):
        Models(max_models=0)
    assert default_models() is default_models()


def test_similarity_uses_the_default_models(monkeypatch):
    from densekit import similarity

    models = Models()
    matrix = similarity(["a cat", "a cat", "stock markets"], model="hashing:16", models=models)
    assert matrix.shape == (3, 3) and abs(float(matrix[0, 1]) - 1.0) < 1e-6
    assert models.loaded() == [("encoder", "hashing:16", "torch")]
