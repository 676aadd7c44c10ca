"""load_encoder: default model, hashing references, backends."""

from __future__ import annotations

import pytest

from densekit.encoders import factory
from densekit.encoders.factory import load_encoder
from densekit.encoders.hashing import HashingEncoder
from densekit.encoders.sentence import SentenceEncoder
from densekit.errors import InvalidInputError


def test_hashing_references():
    assert load_encoder("hashing").dimension == 64
    encoder = load_encoder("hashing:32")
    assert isinstance(encoder, HashingEncoder) and encoder.dimension == 32


def test_bad_hashing_reference_names_it():
    with pytest.raises(InvalidInputError, match="hashing:abc"):
        load_encoder("hashing:abc")


def test_none_uses_configured_default(monkeypatch):
    monkeypatch.setenv("DENSEKIT_MODEL", "hashing:8")
    assert load_encoder(None).dimension == 8


def test_unknown_backend_names_it_and_the_valid_ones():
    with pytest.raises(InvalidInputError) as raised:
        load_encoder("org/model", backend="tensorflow")
    assert "'tensorflow'" in str(raised.value) and "torch" in str(raised.value)


def test_added_backend_is_one_entry(monkeypatch):
    built = []
    monkeypatch.setitem(factory.BACKENDS, "fake", lambda reference: built.append(reference) or HashingEncoder(4))
    assert load_encoder("org/model", backend="fake").dimension == 4
    assert built == ["org/model"]


def test_torch_backend_builds_a_new_sentence_encoder_each_time(tmp_home, minilm_path):
    encoder = load_encoder("all-MiniLM-L6-v2")  # the suite pins DENSEKIT_BACKEND=torch
    assert isinstance(encoder, SentenceEncoder)
    assert (encoder.model_name, encoder.dimension) == ("sentence-transformers/all-MiniLM-L6-v2", 384)
    assert load_encoder("all-MiniLM-L6-v2", backend="torch") is not encoder  # sharing is Models' job


def test_prepare_backend_builds_the_export_once_with_progress(tmp_home, minilm_path, monkeypatch):
    from densekit.encoders.factory import prepare_backend

    monkeypatch.delenv("DENSEKIT_BACKEND", raising=False)
    steps = []
    assert prepare_backend(str(minilm_path), progress=lambda done, total: steps.append((done, total))) == "onnx-int8-row"
    assert steps[0] == (0, 2) and steps[-1] == (2, 2)
    from densekit.encoders.onnx_export import row_quantization_name

    exported = {path.name for path in (tmp_home / "onnx").glob("*/*.onnx")}
    assert exported == {"model.onnx", f"model-int8-{row_quantization_name()}.onnx"}
    assert prepare_backend("hashing:8") == "torch" and prepare_backend(str(minilm_path), "torch") == "torch"
