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


def test_three_texts_add_matrices_and_pairs():
    result = CliRunner().invoke(app, ["compare", "hi", "hello", "hey hi", "--model", "hashing:64", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["texts"] == ["hi", "hello", "hey hi"] and report["model"] == "hashing:64"
    assert "bag_of_words" in report["matrices"] and "text_a" not in report  # scalars only for a pair
    words = report["matrices"]["bag_of_words"]
    assert words[0][1] == 0.0 and words[0][2] == pytest.approx(2 ** -0.5)  # "hi" vs "hey hi"
    assert words == [list(row) for row in zip(*words)]  # symmetric
    assert [row[index] for index, row in enumerate(report["matrices"]["dense"])] == pytest.approx([1.0] * 3, abs=1e-5)
    assert [(pair["text_a"], pair["text_b"]) for pair in report["pairs"]] == [
        ("hi", "hello"), ("hi", "hey hi"), ("hello", "hey hi")]
    assert report["pairs"][1]["shared_words"] == ["hi"]


def test_two_texts_keep_the_scalar_fields_and_add_the_matrices():
    result = CliRunner().invoke(app, ["compare", *GIRAFFE, "--model", "hashing:32", "--json"])
    report = json.loads(result.stdout)
    assert {"text_a", "text_b", "bag_of_words", "content_words", "dense", "shared_words",
            "shared_content_words", "model"} <= set(report)
    assert report["matrices"]["bag_of_words"] == [[1.0, 1.0], [1.0, 1.0]]
    assert report["matrices"]["dense"][0][1] == pytest.approx(report["dense"], abs=1e-5)


def test_three_texts_table_has_one_row_per_pair():
    result = CliRunner().invoke(app, ["compare", "hi", "hello", "hey", "-m", "hashing"])
    assert result.exit_code == 0, result.output
    assert "every pair" in result.stdout
    assert result.stdout.count("hello") == 2 and result.stdout.count("hey") == 2


def test_one_text_is_an_input_error():
    result = CliRunner().invoke(app, ["compare", "alone", "--model", "hashing"])
    assert isinstance(result.exception, InvalidInputError)
    assert "at least two texts" in str(result.exception)
