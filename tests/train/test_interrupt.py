"""Ctrl-C during `densekit train reader|retriever|reranker`: the step finishes, the model so far is saved,
the terminal says where, and nothing third-party (transformers' LOAD REPORT, ANSI codes) is printed."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from densekit.pipelines.reader import Reader

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parent / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

FRANCE = "The capital of France is Paris. It is known for the Eiffel Tower."
# Runs the real CLI entry point; the only addition writes a file after each logged step, so the
# test knows training is under way before it sends SIGINT.
HARNESS = """
import sys
from pathlib import Path
import densekit.train.loop as loop
marker = Path(sys.argv[1])
original = loop.run_steps
def run_steps(*args, log=None, **kwargs):
    def logged(entry):
        marker.write_text(str(entry["step"]))
        if log is not None:
            log(entry)
    return original(*args, log=logged, **kwargs)
loop.run_steps = run_steps
import densekit.train.reader, densekit.train.reranker, densekit.train.retriever
densekit.train.reader.run_steps = run_steps
densekit.train.reranker.run_steps = run_steps
densekit.train.retriever.run_steps = run_steps
sys.argv = ["densekit", *sys.argv[2:]]
from densekit.cli.main import main
main()
"""


def interrupt_training(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    marker = tmp_path / "step"
    process = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(marker), *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_path):
    return tiny.bert_folder(minilm_path, tmp_path_factory.mktemp("bert"), hidden_size=64, intermediate_size=128)


def test_ctrl_c_saves_the_reader_and_says_where(tiny_bert, tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text(json.dumps({"question": "What is the capital of France?", "passage": FRANCE, "answer": "Paris"}) + "\n")
    out = tmp_path / "reader"
    completed = interrupt_training(
        ["train", "reader", "--examples", str(examples), "--base", str(tiny_bert), "--out", str(out),
         "--epochs", "100000", "--batch-size", "1", "--max-length", "64", "--stride", "16"], tmp_path)
    assert completed.returncode == 130, completed.stderr
    assert "finishing this step, then saving the model so far" in completed.stderr
    assert completed.stdout.startswith("interrupted after step ") and f"saved the reader so far to {out}" in completed.stdout
    steps = int(completed.stdout.split()[3].rstrip(":"))
    assert steps >= 1
    saved = json.loads((out / "densekit_reader.json").read_text())["training"]
    assert saved["interrupted"] is True and saved["steps"] == steps
    answer = Reader(str(out)).read("What is the capital of France?", [FRANCE])[0]  # a whole, loadable model
    assert FRANCE[answer.start : answer.end] == answer.text
    for stream in (completed.stdout, completed.stderr):
        assert "\x1b[" not in stream and "LOAD REPORT" not in stream and "Traceback" not in stream


def test_ctrl_c_saves_the_retriever_with_json_report(minilm_path, tmp_path):
    base = tiny.sentence_folder(minilm_path, tmp_path / "base")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"question": f"question {n}", "positive": f"passage number {n}"}) + "\n"
                             for n in range(8)))
    out = tmp_path / "retriever"
    completed = interrupt_training(
        ["train", "retriever", "--pairs", str(pairs), "--base", str(base), "--out", str(out), "--epochs", "100000",
         "--batch-size", "4", "--json"], tmp_path)
    assert completed.returncode == 130, completed.stderr
    report = json.loads(completed.stdout)
    assert report["interrupted"] is True and report["out"] == str(out) and report["steps"] >= 1
    assert (out / "question_encoder").is_dir() and (out / "context_encoder").is_dir()
    assert "\x1b[" not in completed.stderr and "LOAD REPORT" not in completed.stderr


def test_ctrl_c_saves_the_reranker(tiny_bert, tmp_path):
    stsb = tmp_path / "sts.csv"
    stsb.write_text("".join(f"main-captions\tMSRvid\t2012\t{n}\t4.5\tA man plays instrument {n}.\tA man is playing instrument {n}.\n"
                            for n in range(6)))
    out = tmp_path / "reranker"
    completed = interrupt_training(
        ["train", "reranker", "--stsb", str(stsb), "--base", str(tiny_bert), "--out", str(out), "--epochs", "100000",
         "--batch-size", "2", "--negatives", "1", "--max-length", "32"], tmp_path)
    assert completed.returncode == 130, completed.stderr
    assert completed.stdout.startswith("interrupted after step ") and f"saved the reranker so far to {out}" in completed.stdout
    saved = json.loads((out / "densekit_reranker.json").read_text())["training"]
    assert saved["interrupted"] is True and saved["steps"] >= 1
    from densekit.rerank import CrossEncoderReranker

    scores = CrossEncoderReranker(str(out)).rerank("A man plays instrument 1.", ["A man is playing instrument 1.", "x"])
    assert scores.shape == (2,)  # a whole, loadable model
    assert "\x1b[" not in completed.stderr and "LOAD REPORT" not in completed.stderr and "Traceback" not in completed.stderr
