"""``densekit embed`` through the runner, as a subprocess, and with a real model on the default backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.errors import InvalidInputError
from densekit.pipelines.embed import read_embeddings

DENSEKIT = str(Path(sys.executable).parent / "densekit")
runner = CliRunner()


def test_table_line_and_json(tmp_path):
    result = runner.invoke(app, ["embed", "a cat", "a dog", "-o", str(tmp_path / "v.npy"), "-m", "hashing", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (f"wrote 2 vectors of 64-d to {tmp_path / 'v.npy'} (ids in {tmp_path / 'v.json'}): "
                                     "hashing:64, backend hashing")
    report = json.loads(runner.invoke(app, ["embed", "x", "-o", str(tmp_path / "v.jsonl"), "-m", "hashing", "--json"]).stdout)
    assert report["count"] == 1 and report["format"] == "jsonl" and report["ids_file"] is None


def test_unknown_format_fails_before_loading_a_model(tmp_path):
    result = runner.invoke(app, ["embed", "x", "-o", str(tmp_path / "v.csv"), "-m", "no-such-model"])
    assert isinstance(result.exception, InvalidInputError) and "'.csv'" in str(result.exception)


def test_subprocess_reads_stdin_and_warns_about_skipped_lines(tmp_path):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"id": "a", "text": "alpha"}\nbroken\n')
    completed = subprocess.run(
        [DENSEKIT, "embed", str(rows), "-", "--out", str(tmp_path / "v.npz"), "--model", "hashing:16", "--quiet"],
        input="from stdin\n", capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert completed.returncode == 0, completed.stderr
    assert f"warning: skipped {rows}:2: invalid JSON" in completed.stderr
    assert read_embeddings(tmp_path / "v.npz").ids == ["a", "stdin:1"]
    bad = subprocess.run([DENSEKIT, "embed", "missing.md", "-o", str(tmp_path / "v.npy"), "-m", "hashing"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: no such file 'missing.md'")


@pytest.mark.slow
def test_real_model_on_the_default_backend(tmp_path, minilm_encoder, monkeypatch):
    monkeypatch.delenv("DENSEKIT_BACKEND", raising=False)  # the library's own default resolution
    monkeypatch.setenv("DENSEKIT_HOME", str(tmp_path / "home"))
    texts = ["The bees decided to have a mutiny against their queen",
             "Flying stinging insects rebelled in opposition to the matriarch"]
    result = runner.invoke(app, ["embed", *texts, "-o", str(tmp_path / "v.parquet"), "-m", "all-MiniLM-L6-v2", "-q"])
    assert result.exit_code == 0, result.output
    back = read_embeddings(tmp_path / "v.parquet")
    assert back.model == "sentence-transformers/all-MiniLM-L6-v2" and back.backend.startswith("onnx-int8")  # the default
    fp32 = minilm_encoder.encode(texts)
    assert np.sum(back.vectors * fp32, axis=1) == pytest.approx([1.0, 1.0], abs=0.02)  # int8 vs fp32
    assert float(back.vectors[0] @ back.vectors[1]) == pytest.approx(0.44, abs=0.03)
