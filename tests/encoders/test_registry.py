"""The backend registry: one list of names, builders and capabilities, read by everyone else."""

from __future__ import annotations

import pytest

from densekit.encoders import registry
from densekit.encoders.clip import ClipEncoder
from densekit.encoders.dual import DualEncoder
from densekit.encoders.factory import BACKENDS, load_encoder
from densekit.encoders.hashing import HashingEncoder
from densekit.encoders.registry import Backend, backend_help, backend_names, capabilities, register
from densekit.errors import InvalidInputError


def test_text_model_backends_in_order_with_the_default_eligible_ones_marked():
    assert backend_names(text_model=True) == ["torch", "onnx", "onnx-int8-row", "onnx-int8"]
    assert {name for name in backend_names() if capabilities(name).default_eligible} == {"torch", "onnx-int8-row"}
    assert set(backend_names()) == {"torch", "onnx", "onnx-int8-row", "onnx-int8", "hashing", "words", "clip",
                                    "dpr", "st-dual"}


def test_capabilities_agree_with_the_encoder_classes():
    assert set(capabilities("clip").modalities) == ClipEncoder.accepts == {"text", "image"}
    assert capabilities("dpr").sides == capabilities("st-dual").sides == DualEncoder.sides == "question-passage"
    assert capabilities("torch").sides == HashingEncoder.sides == "symmetric"
    assert HashingEncoder.accepts == {"text"}
    assert {capabilities(name).onnx_precision for name in ("onnx", "onnx-int8-row", "onnx-int8")} == {
        "fp32", "int8-row", "int8"}
    # the server merges callers' texts into one call only for these
    assert [name for name in backend_names() if capabilities(name).batchable] == [
        "torch", "onnx", "onnx-int8-row", "onnx-int8", "hashing"]


def test_unknown_backend_names_it_and_the_valid_ones():
    with pytest.raises(InvalidInputError, match=r"'tensorrt'; valid: torch, onnx, onnx-int8-row, onnx-int8, hashing"):
        capabilities("tensorrt")


def test_help_lists_every_text_backend_with_its_summary():
    text = backend_help(text_model=True)
    assert text.startswith("torch (") and "onnx-int8-row (" in text and "onnx-int8 (" in text
    assert "clip" not in text


def test_a_registered_backend_is_loadable_and_replacing_a_builder_keeps_capabilities(monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, "tiny", Backend("tiny", lambda reference: HashingEncoder(4), "test"))
    assert load_encoder("org/model", backend="tiny").dimension == 4
    assert "tiny" in backend_names()
    monkeypatch.setitem(BACKENDS, "onnx-int8-row", lambda reference: HashingEncoder(8))
    assert capabilities("onnx-int8-row").default_eligible and load_encoder("x", backend="onnx-int8-row").dimension == 8


def test_register_returns_the_entry(monkeypatch):
    monkeypatch.setattr(registry, "BACKENDS", dict(registry.BACKENDS))
    entry = register(Backend("other", lambda reference: HashingEncoder(2), "another"))
    assert capabilities("other") is entry
