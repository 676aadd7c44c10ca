"""``densekit bench encode`` on a tiny BERT sentence-transformers model built here (and once as a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from densekit.cli.bench_command import QUALITY_TOLERANCE, quality_check  # noqa: E402
from densekit.cli.main import app  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, minilm_path) -> Path:
    """A 1-layer, 32-d BERT saved as a sentence-transformers folder with mean pooling + Normalize."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("bench") / "tiny-st"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).eval().save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(minilm_path / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": "mean"}))
    (folder / "2_Normalize").mkdir()
    return folder


@pytest.fixture(scope="module")
def bench_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("bench-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DENSEKIT_HOME", str(home))
        yield home


@pytest.fixture(scope="module")
def sts_sample(shared_data, tmp_path_factory) -> Path:
    """The first 40 STS-B dev pairs (read from shared data, written to a temp file: never copied into the repo)."""
    lines = (shared_data / "stsb" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()[:40]
    path = tmp_path_factory.mktemp("sts") / "sts-sample.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bench_arguments(model: Path, sts: Path, shared_data: Path) -> list[str]:
    return ["bench", "encode", "-m", str(model), "--backend", "onnx", "--backend", "onnx-int8", "--short", "12",
            "--long", "2", "--long-tokens", "20", "--repeats", "2", "--batch-size", "4", "--threads", "1",
            "--sts", str(sts), "--passages", str(shared_data / "quoref" / "passages.jsonl"), "--json", "-q"]


def test_bench_encode_json_has_every_backend_on_short_and_long_texts(tiny_model, bench_home, sts_sample, shared_data):
    result = CliRunner().invoke(app, bench_arguments(tiny_model, sts_sample, shared_data))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    cells = {(row["backend"], row["texts"]) for row in report["rows"]}
    assert cells == {(name, texts) for name in ("plain", "onnx", "onnx-int8") for texts in ("short", "long")}
    for row in report["rows"]:
        assert row["sentences_per_second"] > 0 and len(row["rates"]) == 2
        assert row["tokens_per_second"] == pytest.approx(row["sentences_per_second"] * row["tokens_per_text"])
        if row["texts"] == "long":
            assert 20 <= row["tokens_per_text"] <= 22  # cut at 20 tokens, + [CLS] [SEP]
    baseline = [row for row in report["rows"] if row["backend"] == "plain"]
    assert all(row["ratio"] == pytest.approx(1.0) for row in baseline)
    assert set(report["sts_spearman"]) == {"plain", "onnx", "onnx-int8"}
    # A random tiny model's sentence vectors are all near one another, so its Spearman is noise-sized:
    # only its range is checked here (tests/encoders/test_onnx.py checks vector parity).
    assert all(-100 <= value <= 100 for value in report["sts_spearman"].values())
    assert set(report["quality_ok"]) == {"plain", "onnx", "onnx-int8"}


def test_bench_encode_table_without_data_files_uses_bundled_texts(tiny_model, bench_home):
    result = CliRunner().invoke(app, ["bench", "encode", "-m", str(tiny_model), "-b", "onnx", "--short", "6",
                                      "--long", "1", "--long-tokens", "16", "--repeats", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert "plain ST" in result.stdout and "onnx" in result.stdout and "x plain" in result.stdout


def test_unknown_backend_names_the_choices(tiny_model, bench_home):
    result = CliRunner().invoke(app, ["bench", "encode", "-m", str(tiny_model), "--backend", "tensorrt", "-q"])
    assert result.exit_code != 0
    assert "'tensorrt'; valid: torch, onnx, onnx-int8-row, onnx-int8" in str(result.exception)


def test_quality_check_flags_a_drop_beyond_the_tolerance():
    scores = {"plain": 86.7, "onnx": 86.7, "onnx-int8": 86.7 - QUALITY_TOLERANCE - 0.01}
    assert quality_check(scores) == {"plain": True, "onnx": True, "onnx-int8": False}
    assert quality_check({"onnx": 80.0}) == {}


def test_bench_encode_runs_as_a_real_command(tiny_model, bench_home, sts_sample, shared_data):
    executable = Path(sys.executable).with_name("densekit")
    arguments = bench_arguments(tiny_model, sts_sample, shared_data)
    arguments[arguments.index("--backend") + 1 : arguments.index("--backend") + 3] = []  # only onnx-int8
    completed = subprocess.run([str(executable), *arguments], capture_output=True, text=True, timeout=600,
                               env={**os.environ, "DENSEKIT_HOME": str(bench_home)})
    assert completed.returncode == 0, completed.stderr
    assert {row["backend"] for row in json.loads(completed.stdout)["rows"]} == {"plain", "onnx-int8"}
    bad = subprocess.run([str(executable), "bench", "encode", "-m", str(tiny_model), "-b", "nope", "-q"],
                         capture_output=True, text=True, timeout=600, env={**os.environ, "DENSEKIT_HOME": str(bench_home)})
    assert bad.returncode == 2 and "error: unknown backend 'nope'" in bad.stderr
