"""A space refuses an encoder of another backend unless the caller allows the mismatch on purpose;
another model or dimension is refused either way."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders import factory
from densekit.encoders.base import Encoder
from densekit.errors import ModelMismatchError

MODEL = "example/sentence-model"
TEXTS = ["The cat sat on the mat.", "Stock markets fell sharply.", "Bees rebelled against their queen."]


class Labelled(Encoder):
    """A model-free encoder reporting the model and backend it is built with. Backends differ by a
    small perturbation, as int8 and fp32 vectors of one model do."""

    def __init__(self, model: str = MODEL, backend: str = "onnx-int8", dimension: int = 16):
        self.model_name, self.backend, self.dimension, self.max_seq_length = model, backend, dimension, 64

    def encode_batch(self, texts):
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, sum(map(ord, word)) % self.dimension] += 1.0
        if self.backend != "onnx-int8":
            vectors += 0.01
        return vectors


@pytest.fixture
def int8_collection(tmp_path):
    path = tmp_path / "int8"
    with Collection.create(path, encoder=Labelled()) as collection:
        collection.add(TEXTS, ids=["cat", "stocks", "bees"])
    return path


def test_another_backend_is_refused_without_the_option(int8_collection):
    with pytest.raises(ModelMismatchError, match=r"backend 'onnx-int8'.*backend 'torch'.*--allow-backend-mismatch"):
        Collection.open(int8_collection, readonly=True, encoder=Labelled(backend="torch"))
    with Collection.open(int8_collection, readonly=True) as reader:
        with pytest.raises(ModelMismatchError, match="backend 'onnx-int8'"):
            reader.check_backend("torch")
        with pytest.raises(ModelMismatchError, match="backend 'onnx-int8'"):
            reader.use_backend("torch")
        reader.check_backend("onnx-int8")  # its own backend is always fine


def test_another_backend_is_allowed_with_the_option_and_warned_about(int8_collection, caplog):
    with caplog.at_level(logging.WARNING, logger="densekit.collection.space"):
        reader = Collection.open(int8_collection, readonly=True, encoder=Labelled(backend="torch"),
                                 allow_backend_mismatch=True)
    with reader:
        assert reader.encoder().backend == "torch"
        assert reader.search("a cat on a mat", k=1)[0].id == "cat"
    assert "built with backend 'onnx-int8'" in caplog.text and "'torch'" in caplog.text
    # The manifest keeps the backend the vectors were made with.
    with Collection.open(int8_collection, readonly=True) as again:
        assert again.spaces["text"].encoder_info["backend"] == "onnx-int8"


def test_use_backend_rebuilds_the_encoder_from_the_manifest_model(int8_collection, monkeypatch, caplog):
    built = []

    def torch_builder(reference):
        built.append(reference)
        return Labelled(reference, "torch")

    monkeypatch.setitem(factory.BACKENDS, "torch", torch_builder)
    with Collection.open(int8_collection, readonly=True) as reader:
        with pytest.raises(ModelMismatchError):
            reader.use_backend("torch")
        assert built == []  # refused before any model was loaded
    with caplog.at_level(logging.WARNING, logger="densekit.collection.space"):
        with Collection.open(int8_collection, readonly=True, allow_backend_mismatch=True) as reader:
            reader.use_backend("torch")
            assert built == [MODEL] and reader.encoder().backend == "torch"
            assert reader.search("markets fell", k=1)[0].id == "stocks"
    assert "allow_backend_mismatch" in caplog.text


def test_another_model_or_dimension_is_refused_even_with_the_option(int8_collection):
    for other in (Labelled(model="example/other-model", backend="torch"), Labelled(backend="onnx-int8", dimension=32),
                  Labelled(model="example/other-model")):
        with pytest.raises(ModelMismatchError, match=MODEL) as refused:
            Collection.open(int8_collection, readonly=True, encoder=other, allow_backend_mismatch=True)
        assert "--allow-backend-mismatch" not in str(refused.value)
    with pytest.raises(ModelMismatchError, match="example/other-model"):
        Collection.open(int8_collection, readonly=True, model="example/other-model", allow_backend_mismatch=True)


def test_a_writer_with_the_option_adds_with_the_other_backend(int8_collection):
    with Collection.open(int8_collection, encoder=Labelled(backend="torch"), allow_backend_mismatch=True) as writer:
        writer.add(["Heavy rain this weekend."], ids=["rain"])
    with Collection.open(int8_collection, readonly=True) as reader:
        assert reader.count() == 4 and reader.spaces["text"].encoder_info["backend"] == "onnx-int8"
