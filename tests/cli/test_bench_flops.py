"""``densekit bench encode``'s fraction of the CPU's fp32 matmul peak: the FLOP formula against a hand
count on a tiny BERT, and the column in the command's output (tiny model, small peak matrices)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from densekit.cli import bench_command  # noqa: E402
from densekit.cli.bench_command import ModelFlops, Row, add_peak_fraction, matmul_peak  # noqa: E402
from densekit.cli.main import app  # noqa: E402

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_models)


def test_flops_per_token_of_a_tiny_bert_match_a_hand_count():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    hidden, layers, intermediate, vocab, positions = 32, 2, 64, 100, 40
    model = BertModel(BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                                 intermediate_size=intermediate, max_position_embeddings=positions))
    # Per layer: Q, K, V, O (weights + biases), two LayerNorms (scale + shift), the feed-forward pair.
    attention = 4 * (hidden * hidden + hidden)
    feed_forward = hidden * intermediate + intermediate + intermediate * hidden + hidden
    layer_norms = 2 * (2 * hidden)
    embedding_norm = 2 * hidden  # the LayerNorm after the embeddings is not a lookup table: counted
    expected = layers * (attention + feed_forward + layer_norms) + embedding_norm
    assert expected == 17_152
    flops = ModelFlops.of(model)
    assert flops == ModelFlops(parameters=expected, layers=layers, hidden=hidden)
    # Tables (word, position, token type) and the pooler are what the count leaves out.
    tables = (vocab + positions + 2) * hidden
    pooler = hidden * hidden + hidden
    assert sum(parameter.numel() for parameter in model.parameters()) == expected + tables + pooler
    # Attention: QK^T and attention x V, L x hidden multiply-adds each, per token and layer.
    span = 12
    assert flops.per_token(span) == 2 * expected + 2 * (2 * span * hidden) * layers == 37_376


def test_peak_fraction_is_model_flops_over_the_peak():
    row = Row("onnx-int8", "short", 4, 10.0, 100.0, 1000.0, 2.0, [100.0], attention_span=12.0)
    add_peak_fraction([row], ModelFlops(parameters=1_000_000, layers=2, hidden=32), peak_gflops=4.0)
    per_token = 2_000_000 + 4 * 2 * 12 * 32
    assert row.gflops == pytest.approx(per_token * 1000 / 1e9)
    assert row.peak_fraction == pytest.approx(row.gflops / 4.0)


def test_matmul_peak_is_positive_and_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    assert matmul_peak(1, size=128, repeats=2) > 0
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, minilm_path) -> Path:
    return tiny_models.sentence_folder(minilm_path, tmp_path_factory.mktemp("flops"), seed=1)


@pytest.fixture
def small_peak(monkeypatch, tmp_path):
    monkeypatch.setattr(bench_command, "PEAK_SIZE", 256)
    monkeypatch.setenv("DENSEKIT_HOME", str(tmp_path / "home"))


FAST = ["-b", "torch", "--short", "6", "--long", "1", "--long-tokens", "16", "--repeats", "1", "--threads", "1", "-q"]


def test_peak_column_in_the_table_and_the_json(tiny_model, small_peak):
    table = CliRunner().invoke(app, ["bench", "encode", "-m", str(tiny_model), *FAST])
    assert table.exit_code == 0, table.output
    assert "of peak" in table.stdout and "GFLOP/s" in table.stdout and "fp32 matmul peak" in table.stdout
    result = CliRunner().invoke(app, ["bench", "encode", "-m", str(tiny_model), *FAST, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["matmul_peak_gflops"] > 0 and report["threads_used"] == 1
    flops = ModelFlops(**report["model_flops"])
    assert flops.layers == 2 and flops.hidden == 32
    for row in report["rows"]:
        assert row["attention_span"] >= row["tokens_per_text"] > 0  # token-weighted mean >= plain mean
        assert row["gflops"] == pytest.approx(flops.per_token(row["attention_span"]) * row["tokens_per_second"] / 1e9)
        assert row["peak_fraction"] == pytest.approx(row["gflops"] / report["matmul_peak_gflops"])
