"""`densekit demo`: all six sections in the talk's order, with their key figures, on small settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.demo.show import TALK_SECTIONS
from densekit.cli.main import app

runner = CliRunner()


def run_demo(tmp_path: Path, *arguments: str, environment: dict | None = None) -> str:
    result = runner.invoke(
        app,
        ["demo", "--collection", str(tmp_path / "demo"), "--per-category", "1", "--word2vec-epochs", "5",
         "--plot", str(tmp_path / "days.png"), *arguments],
        env={"DENSEKIT_HOME": str(tmp_path / "home"), "DENSEKIT_READER": "", **(environment or {})},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def figure(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in the output"
    return float(match.group(1))


@pytest.mark.slow
def test_all_six_sections_in_order_with_their_figures(tmp_path):
    out = run_demo(tmp_path, "--bees-model", "all-MiniLM-L6-v2")  # mpnet's figure: the next test
    positions = [out.index(f"{number}. {title}") for number, title in TALK_SECTIONS.items()]
    assert positions == sorted(positions)
    assert out.count("what this shows:") == 5  # every section but CLIP without weights
    # 1: the swap is invisible to word counts, greetings share no word but are close in meaning
    assert figure(r"identical \((\d\.\d+)\)", out) == 1.0
    assert 0.9 < figure(r"notice the swap \((\d\.\d+)\)", out) < 0.999
    assert figure(r"greetings close \((\d\.\d+)-", out) > 0.5
    # 2: king - man + woman = queen (0.852 with GloVe 6B 50-d), a plot, word2vec in seconds
    assert re.search(r"king - man \+ woman\s+│ queen\s+│\s+0\.85\d", out)
    assert (tmp_path / "days.png").stat().st_size > 10_000
    neighbours = re.search(r"nearest to 'tuesday': (.*)", out).group(1)
    assert len({"monday", "wednesday", "thursday", "friday", "saturday", "sunday"} & set(re.findall(r"[a-z]+", neighbours))) >= 2
    # 3: the paraphrase ranks first
    assert re.search(r"│\s+0\.\d+ │ The bees decided", out).start() < out.index("She baked")
    # 4: the copy of the question wins with a symmetric model; no reader here says how to get one
    assert "the copy of the question ranks first for 3 of 3 questions" in out
    assert "no reader on this machine: train one here" in out and "`densekit train reader --examples" in out
    assert "distilbert-base-cased-distilled-squad" in out
    # 5: no CLIP weights: one line saying how
    assert "no CLIP weights on this machine (openai/clip-vit-base-patch32)" in out
    # 6: the collection, searched three ways and filtered
    assert "5 new, 0 unchanged articles" in out  # one article per category
    filtered = out[out.index("where {'category': 'entertainment'}"):].splitlines()[1:]
    assert filtered[0].split()[1] == "[entertainment]" and filtered[1].startswith("what this shows")
    assert re.search(r"demo finished in \d+\.\d s", out)
    # A second run finds the collection and adds nothing.
    again = run_demo(tmp_path, "--section", "6")
    assert "0 new, 5 unchanged articles" in again and "1. sparse" not in again


@pytest.mark.slow
def test_bees_pair_with_mpnet(tmp_path):
    out = run_demo(tmp_path, "--section", "3")
    assert "all-mpnet-base-v2" in out
    assert 0.55 < figure(r"ranks first at (\d\.\d+)", out) < 0.65  # 0.608 fp32 (shared/MODELS.md)
    assert figure(r"unrelated sentence scores (\d\.\d+)", out) < 0.3


@pytest.mark.slow
def test_reader_and_clip_when_present(tmp_path, minilm_path):
    import importlib.util

    from densekit.images.tiny import sample_clip

    spec = importlib.util.spec_from_file_location("tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    reader = tiny.bert_folder(minilm_path, tmp_path / "reader")  # a new (untrained) QA head: wiring, not quality
    clip = sample_clip(tmp_path / "clip")  # tiny CLIP trained on scikit-image's sample pictures
    out = run_demo(tmp_path, "--section", "4", "--section", "5", "--reader", str(reader), "--clip-model", str(clip))
    assert f"reader {reader} over the top 3 passages" in out and "no reader" not in out
    assert "Canberra" in out  # the expected column; the tiny reader's own span is some passage text
    assert re.search(r"(\d) of 6 pictures pick their own caption", out)
    assert int(re.search(r"(\d) of 6 pictures", out).group(1)) >= 5
