"""``densekit compare`` through CliRunner and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.errors import InvalidInputError

DENSEKIT = str(Path(sys.executable).parent / "densekit")
GIRAFFE = ["Bill ran from the giraffe towards the dolphin", "Bill ran from the dolphin towards the giraffe"]


def test_json_output():
    result = CliRunner().invoke(app, ["compare", *GIRAFFE, "--model", "hashing:32", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["bag_of_words"] == 1.0 and report["content_words"] == 1.0
    assert report["model"] == "hashing:32"
    assert report["shared_words"] == ["bill", "dolphin", "from", "giraffe", "ran", "the", "towards"]
    assert report["dense"] == pytest.approx(1.0, abs=1e-5)  # the hashing encoder ignores word order too


def test_table_output():
    result = CliRunner().invoke(app, ["compare", "hi", "hello there", "-m", "hashing"])
    assert result.exit_code == 0, result.output
    assert "bag of words (all words)" in result.stdout and "dense cosine" in result.stdout
    assert "shared words: (none)" in result.stdout


def test_empty_text_is_an_input_error():
    result = CliRunner().invoke(app, ["compare", "", "hello", "--model", "hashing"])
    assert isinstance(result.exception, InvalidInputError)


def test_subprocess_error_exit_code():
    completed = subprocess.run([DENSEKIT, "compare", " ", "x", "--model", "hashing"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.startswith("error: text_a must be a non-empty string")


@pytest.mark.slow
def test_subprocess_with_a_real_model():
    completed = subprocess.run([DENSEKIT, "compare", *GIRAFFE, "--model", "all-MiniLM-L6-v2", "--json"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["bag_of_words"] == 1.0
    assert 0.9 < report["dense"] < 0.9999
    assert report["model"] == "sentence-transformers/all-MiniLM-L6-v2"
