"""The CLI's backend defaults (index, similar, compare) and --allow-backend-mismatch (search, index),
on a tiny sentence-transformers model built here, exported to ONNX int8 in a temporary cache."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.encoders import defaults
from densekit.errors import ModelMismatchError

pytestmark = pytest.mark.skipif(not defaults.onnx_available(), reason="onnxruntime / onnx not installed")

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)

runner = CliRunner()


def run(*arguments):
    return runner.invoke(app, [str(argument) for argument in arguments])


@pytest.fixture(scope="module")
def environment(tmp_path_factory):
    """A module-wide DENSEKIT_HOME (one export of the tiny model) and no DENSEKIT_BACKEND, so the rule applies."""
    home = tmp_path_factory.mktemp("backend-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DENSEKIT_HOME", str(home))
        patch.delenv("DENSEKIT_BACKEND", raising=False)
        yield home


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, minilm_path) -> Path:
    return tiny_models.sentence_folder(minilm_path, tmp_path_factory.mktemp("tiny-st"), seed=3)


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    (folder / "cats.txt").write_text("The cat sat on the warm mat by the fire.")
    (folder / "bank.txt").write_text("The central bank kept interest rates unchanged.")
    return folder


@pytest.fixture(scope="module")
def int8_collection(environment, tiny_model, docs, tmp_path_factory) -> Path:
    """Indexed with no --backend: the default for a sentence-transformers model, onnx-int8-row."""
    collection = tmp_path_factory.mktemp("collections") / "notes"
    result = run("index", collection, docs, "--model", tiny_model, "--json")
    assert result.exit_code == 0, result.output
    return collection


def test_index_without_backend_records_the_default(int8_collection):
    details = json.loads(run("info", int8_collection, "--json").stdout)
    assert details["spaces"]["text"]["backend"] == "onnx-int8-row"
    result = run("search", int8_collection, "cat", "--json")  # queries use the manifest's backend
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["hits"]) == 2


def test_search_with_another_backend_needs_the_flag(int8_collection):
    refused = run("search", int8_collection, "cat", "--backend", "torch")
    assert refused.exit_code != 0 and isinstance(refused.exception, ModelMismatchError)
    assert "--allow-backend-mismatch" in str(refused.exception)
    allowed = run("search", int8_collection, "cat", "--backend", "torch", "--allow-backend-mismatch", "--json")
    assert allowed.exit_code == 0, allowed.output
    assert len(json.loads(allowed.stdout)["hits"]) == 2


def test_the_flag_does_not_allow_another_model(int8_collection):
    result = run("search", int8_collection, "cat", "--model", "hashing:64", "--backend", "torch", "--allow-backend-mismatch")
    assert result.exit_code != 0 and isinstance(result.exception, ModelMismatchError)


def test_index_into_an_existing_collection_with_another_backend_needs_the_flag(int8_collection, tmp_path):
    collection = shutil.copytree(int8_collection, tmp_path / "copy")  # the shared one stays at two items
    extra = tmp_path / "more.txt"
    extra.write_text("Dogs love long walks in the park.")
    refused = run("index", collection, extra, "--backend", "onnx")
    assert refused.exit_code != 0 and isinstance(refused.exception, ModelMismatchError)
    allowed = run("index", collection, extra, "--backend", "onnx", "--allow-backend-mismatch", "--json")
    assert allowed.exit_code == 0, allowed.output
    details = json.loads(run("info", collection, "--json").stdout)
    assert details["count"] == 3 and details["spaces"]["text"]["backend"] == "onnx-int8-row"


@pytest.mark.parametrize("command", [["similar", "a cat", "a dog", "--json"], ["compare", "a cat", "a dog", "--json"]])
def test_similar_and_compare_use_the_default_backend(command, environment, tiny_model, monkeypatch):
    from densekit.encoders import factory

    asked = []
    real = factory.load_encoder

    def recording(reference=None, backend=None):
        asked.append(backend)
        return real(reference, backend=backend)

    monkeypatch.setattr(factory, "load_encoder", recording)
    result = run(*command, "--model", tiny_model)
    assert result.exit_code == 0, result.output
    assert asked == [None, "onnx-int8-row"]  # None: the default for the model, which resolves to onnx-int8-row
    assert run(*command, "--model", tiny_model, "--backend", "torch").exit_code == 0 and asked[-1] == "torch"


def test_search_flag_as_a_real_command(int8_collection, environment):
    densekit = Path(sys.executable).with_name("densekit")
    completed = subprocess.run(
        [densekit, "search", str(int8_collection), "cat", "--backend", "torch", "--allow-backend-mismatch", "--json"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "DENSEKIT_HOME": str(environment)},
    )
    assert completed.returncode == 0, completed.stderr
    assert len(json.loads(completed.stdout)["hits"]) == 2
    assert "built with backend 'onnx-int8-row'" in completed.stderr  # the logged warning reaches the user
    refused = subprocess.run([densekit, "search", str(int8_collection), "cat", "--backend", "torch"],
                             capture_output=True, text=True, timeout=600, env={**os.environ, "DENSEKIT_HOME": str(environment)})
    assert refused.returncode == 2 and "--allow-backend-mismatch" in refused.stderr
