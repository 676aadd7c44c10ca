"""The default encoder backend: onnx-int8-row for sentence-transformers text models the ONNX backend
reproduces, torch for everything else, DENSEKIT_BACKEND over both; and its wiring into new collections."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders import defaults, factory
from densekit.encoders.base import Encoder
from densekit.encoders.defaults import default_backend, exportable, onnx_supports
from densekit.errors import InvalidInputError

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)

needs_onnx = pytest.mark.skipif(not defaults.onnx_available(), reason="onnxruntime / onnx not installed")
TRANSFORMER = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
NORMALIZE = {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
DENSE = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}


@pytest.fixture(autouse=True)
def no_override(monkeypatch):
    """The suite runs with DENSEKIT_BACKEND=torch (tests/conftest.py); these tests judge the rule itself."""
    monkeypatch.delenv("DENSEKIT_BACKEND", raising=False)


def config_folder(folder: Path, modules: list[dict], pooling: dict | None = None, **files: dict) -> Path:
    """A model folder holding only the JSON configs the decision reads (no weights: none are needed)."""
    folder.mkdir(parents=True)
    (folder / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (folder / "1_Pooling").mkdir()
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    for name, content in files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))
    return folder


@needs_onnx
def test_packaged_minilm_defaults_to_onnx_int8_row(minilm_path):
    assert default_backend("all-MiniLM-L6-v2") == "onnx-int8-row"
    assert default_backend("sentence-transformers/all-MiniLM-L6-v2") == "onnx-int8-row"
    assert default_backend(str(minilm_path)) == "onnx-int8-row"


@needs_onnx
def test_packaged_mpnet_is_judged_from_its_zip_pieces_without_unpacking(tmp_home):
    from densekit.models import find_mpnet_pieces

    if find_mpnet_pieces() is None:
        pytest.skip("all-mpnet-base-v2 pieces not installed")
    assert default_backend("all-mpnet-base-v2") == "onnx-int8-row"
    assert default_backend(None) == "onnx-int8-row"  # the default text model is mpnet
    assert not (tmp_home / "models").exists()  # read in place: nothing unpacked into the cache


@pytest.mark.parametrize("reference", ["hashing", "hashing:64", "words:glove-6b-50d", "facebook/dpr-single-nq-base",
                                       "question-model+context-model", "no/such-model-anywhere"])
def test_model_free_dual_and_absent_models_default_to_torch(reference, tmp_home):
    assert default_backend(reference) == "torch"


@needs_onnx
@pytest.mark.parametrize("modules, pooling, extra, expected", [
    ([TRANSFORMER, POOLING, NORMALIZE], {"pooling_mode": "mean"}, {}, True),
    ([TRANSFORMER, POOLING], {"pooling_mode_cls_token": True}, {}, True),  # legacy pooling keys
    ([TRANSFORMER], None, {}, True),
    ([TRANSFORMER, POOLING, DENSE], {"pooling_mode": "mean"}, {}, False),  # Dense: only torch runs it
    ([TRANSFORMER, POOLING], {"pooling_mode": "attention"}, {}, False),  # a pooling mode ONNX lacks
    ([{**TRANSFORMER, "type": "sentence_transformers.models.CLIPModel"}], None, {}, False),
    ([TRANSFORMER, POOLING], {"pooling_mode": "mean"},
     {"config_sentence_transformers": {"default_prompt_name": "query"}}, False),  # ONNX does not prepend prompts
])
def test_module_list_decides(tmp_path, modules, pooling, extra, expected):
    folder = config_folder(tmp_path / "model", modules, pooling, **extra)
    assert onnx_supports(str(folder)) is expected
    assert default_backend(str(folder)) == ("onnx-int8-row" if expected else "torch")


def test_bare_hugging_face_folder_and_saved_retriever_default_to_torch(tmp_path, minilm_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert default_backend(str(bare)) == "torch"
    retriever = tiny_models.dpr_retriever_folder(minilm_path, tmp_path / "retriever")
    assert default_backend(str(retriever)) == "torch"
    assert exportable(lambda name: None) is False


def test_missing_onnxruntime_means_torch(minilm_path, monkeypatch):
    monkeypatch.setattr(defaults, "onnx_available", lambda: False)
    assert default_backend(str(minilm_path)) == "torch"


def test_environment_overrides_the_rule_and_is_validated(minilm_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_BACKEND", "torch")
    assert default_backend(str(minilm_path)) == "torch"
    monkeypatch.setenv("DENSEKIT_BACKEND", "onnx")
    assert default_backend("hashing:8") == "onnx"
    monkeypatch.setenv("DENSEKIT_BACKEND", "tensorrt")
    with pytest.raises(InvalidInputError, match=r"DENSEKIT_BACKEND='tensorrt'.*valid: torch, onnx, onnx-int8-row, onnx-int8"):
        default_backend(str(minilm_path))
    monkeypatch.setenv("DENSEKIT_BACKEND", "")
    assert defaults.backend_override() is None


class Labelled(Encoder):
    """A model-free encoder that reports whichever model and backend it is built with."""

    def __init__(self, model: str, backend: str, dimension: int = 8):
        self.model_name, self.backend, self.dimension, self.max_seq_length = model, backend, dimension, 64

    def encode_batch(self, texts):
        vectors = np.zeros((len(texts), self.dimension), np.float32)
        for row, text in enumerate(texts):
            vectors[row, len(text) % self.dimension] = 1.0
        return vectors


@needs_onnx
def test_new_collection_records_the_default_and_an_explicit_encoder_its_own(tmp_path, monkeypatch):
    folder = config_folder(tmp_path / "st-model", [TRANSFORMER, POOLING], {"pooling_mode": "mean"})
    for name in ("torch", "onnx-int8-row"):
        monkeypatch.setitem(factory.BACKENDS, name, lambda reference, name=name: Labelled(reference, name))
    with Collection.create(tmp_path / "default", model=str(folder)) as collection:
        assert collection.spaces["text"].encoder_info["backend"] == "onnx-int8-row"
    with Collection.create(tmp_path / "explicit", model=str(folder), backend="torch") as collection:
        assert collection.spaces["text"].encoder_info["backend"] == "torch"
    with Collection.create(tmp_path / "given", encoder=Labelled("given/model", "onnx")) as collection:
        assert collection.spaces["text"].encoder_info["backend"] == "onnx"
    with Collection.create(tmp_path / "hashing", model="hashing:16") as collection:
        assert collection.spaces["text"].encoder_info["backend"] == "hashing"
    # An existing collection keeps its manifest's backend, whatever the default now says.
    monkeypatch.setenv("DENSEKIT_BACKEND", "onnx")
    with Collection.open(tmp_path / "explicit", readonly=True) as reopened:
        assert reopened.encoder().backend == "torch"


@needs_onnx
def test_a_failed_default_export_falls_back_to_torch_with_a_warning(tmp_path, monkeypatch, caplog):
    folder = config_folder(tmp_path / "st-model", [TRANSFORMER, POOLING], {"pooling_mode": "mean"})

    def broken(reference):
        raise RuntimeError("exporter does not know this architecture")

    monkeypatch.setitem(factory.BACKENDS, "onnx-int8-row", broken)
    monkeypatch.setitem(factory.BACKENDS, "torch", lambda reference: Labelled(reference, "torch"))
    with caplog.at_level(logging.WARNING, logger="densekit.encoders.factory"):
        encoder = factory.load_encoder(str(folder), backend=None)
    assert encoder.backend == "torch"
    assert "exporter does not know this architecture" in caplog.text and "'torch'" in caplog.text
    # Named explicitly (argument or environment), a failure is the user's to see.
    with pytest.raises(RuntimeError):
        factory.load_encoder(str(folder), backend="onnx-int8-row")
    monkeypatch.setenv("DENSEKIT_BACKEND", "onnx-int8-row")
    with pytest.raises(RuntimeError):
        factory.load_encoder(str(folder), backend=None)


@needs_onnx
@pytest.mark.slow
def test_collection_without_backend_on_packaged_minilm_is_int8_row_and_searches(minilm_path, tmp_home, tmp_path):
    texts = ["The cat sat on the mat.", "Stock markets fell sharply on Monday.",
             "The bees decided to have a mutiny against their queen", "Heavy rain is expected this weekend."]
    path = tmp_path / "notes"
    with Collection.create(path, model=str(minilm_path)) as collection:
        collection.add(texts, ids=["cat", "stocks", "bees", "rain"])
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["spaces"]["text"]["encoder"]["backend"] == "onnx-int8-row"
    with Collection.open(path, readonly=True) as reader:
        assert reader.encoder().backend == "onnx-int8-row"
        assert reader.search("Flying stinging insects rebelled in opposition to the matriarch", k=1)[0].id == "bees"
        assert reader.search("a kitten resting on a rug", k=1)[0].id == "cat"
        assert reader.search("share prices dropped", k=1)[0].id == "stocks"


def test_looking_up_a_loaded_encoder_does_not_search_sys_path_each_time(monkeypatch):
    """``LoadedModels.encoder`` resolves the default backend on every call (a server asks per
    request): whether onnxruntime is installed is looked up once per process, and not at all for the
    models ONNX never serves."""
    calls = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: calls.append(name) or real(name, *a))
    assert defaults.onnx_supports("hashing:64") is False and defaults.onnx_supports("words:glove-6b-50d") is False
    assert calls == []
    defaults.onnx_available.cache_clear()
    first = defaults.onnx_available()
    looked_up = len(calls)
    assert looked_up >= 1 and defaults.onnx_available() == first and len(calls) == looked_up
