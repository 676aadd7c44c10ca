"""``densekit eval sts`` through CliRunner and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.eval.datasets import load_sts
from densekit.eval.sts import evaluate_sts

DENSEKIT = str(Path(sys.executable).parent / "densekit")

ROWS = [
    ("4.8", "a cat sat on the mat", "a cat sat on a mat"),
    ("0.2", "a cat sat on the mat", "stock markets fell sharply"),
    ("4.0", "dogs bark at night", "dogs bark loudly at night"),
    ("0.5", "the sun is hot", "rain falls in spring"),
    ("4.5", "men play football", "men are playing football"),
]


@pytest.fixture()
def sts_file(tmp_path):
    lines = ["\t".join(["genre", "source", "2012", f"{row:04d}", score, first, second])
             for row, (score, first, second) in enumerate(ROWS)]
    lines.insert(2, "broken\tline")
    path = tmp_path / "sts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_json_matches_the_library(sts_file):
    result = CliRunner().invoke(app, ["eval", "sts", str(sts_file), "--model", "hashing:32", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    expected = evaluate_sts(HashingEncoder(32), load_sts(sts_file).items)
    assert report["spearman"] == pytest.approx(expected.spearman)
    assert report["pearson"] == pytest.approx(expected.pearson)
    assert report["pairs"] == 5 and report["skipped_lines"] == 1 and report["model"] == "hashing:32"
    assert f"warning: skipped {sts_file}:3:" in result.stderr


def test_text_output_and_limit(sts_file):
    result = CliRunner().invoke(app, ["eval", "sts", str(sts_file), "-m", "hashing", "--limit", "3", "-q"])
    assert result.exit_code == 0, result.output
    assert "hashing:64 (backend hashing): Spearman" in result.stdout and "3 pairs" in result.stdout


def test_unknown_backend_names_the_valid_ones(sts_file):
    result = CliRunner().invoke(app, ["eval", "sts", str(sts_file), "--model", "all-MiniLM-L6-v2", "-b", "tensorrt"])
    assert isinstance(result.exception, InvalidInputError)
    assert "'tensorrt'; valid: torch, onnx, onnx-int8-row, onnx-int8" in str(result.exception)


def test_strict_and_missing_file(sts_file, tmp_path):
    strict = CliRunner().invoke(app, ["eval", "sts", str(sts_file), "--model", "hashing", "--strict"])
    assert isinstance(strict.exception, InvalidInputError) and "sts.csv:3" in str(strict.exception)
    missing = CliRunner().invoke(app, ["eval", "sts", str(tmp_path / "absent.csv"), "--model", "hashing"])
    assert isinstance(missing.exception, InvalidInputError)


def test_eval_without_a_subcommand_shows_help():
    result = CliRunner().invoke(app, ["eval"])
    assert "sts" in result.output


def test_subprocess_hashing(sts_file):
    completed = subprocess.run([DENSEKIT, "eval", "sts", str(sts_file), "--model", "hashing", "--json"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["pairs"] == 5
    failed = subprocess.run([DENSEKIT, "eval", "sts", str(sts_file), "--model", "hashing", "--strict"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and f"{sts_file}:3:" in failed.stderr


@pytest.mark.slow
def test_subprocess_with_a_real_model(shared_data):
    completed = subprocess.run(
        [DENSEKIT, "eval", "sts", str(shared_data / "stsb" / "sts-dev.csv"), "--model", "all-MiniLM-L6-v2",
         "--limit", "150", "--json", "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["pairs"] == 150 and report["skipped_lines"] == 0
    assert report["spearman"] > 70  # MiniLM: ~87 on the full dev set


@pytest.mark.slow
def test_default_is_the_index_backend_and_torch_reproduces_sentence_transformers(shared_data, minilm_path, tmp_path):
    """Without --backend, eval measures what `densekit index` would build; --backend torch is plain ST."""
    import os

    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    sts = shared_data / "stsb" / "sts-dev.csv"
    environment = {key: value for key, value in os.environ.items() if key != "DENSEKIT_BACKEND"}
    environment["DENSEKIT_HOME"] = str(tmp_path / "home")
    reports = {}
    for extra in ([], ["--backend", "torch"]):
        completed = subprocess.run([DENSEKIT, "eval", "sts", str(sts), "--model", "all-MiniLM-L6-v2", "--limit", "400",
                                    "--json", "--quiet", *extra], capture_output=True, text=True, timeout=600,
                                   env=environment)
        assert completed.returncode == 0, completed.stderr
        reports[tuple(extra)] = json.loads(completed.stdout)
    assert reports[()]["backend"] == "onnx-int8-row"
    assert reports[("--backend", "torch")]["backend"] == "torch"
    pairs = load_sts(sts).items[:400]
    model = SentenceTransformer(str(minilm_path))
    first = model.encode([pair.sentence1 for pair in pairs], batch_size=32, normalize_embeddings=True)
    second = model.encode([pair.sentence2 for pair in pairs], batch_size=32, normalize_embeddings=True)
    plain = 100 * spearmanr((first * second).sum(axis=1), [pair.score for pair in pairs]).statistic
    assert abs(reports[("--backend", "torch")]["spearman"] - plain) <= 0.01
    assert abs(reports[()]["spearman"] - plain) <= 0.5
