"""`densekit ask`, `train retriever|reader|split` and `eval qa` through CliRunner and as real subprocesses,
with tiny models built at test time."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

DENSEKIT = str(Path(sys.executable).parent / "densekit")
runner = CliRunner()
PASSAGES = {
    "france": "The capital of France is Paris. It is known for the Eiffel Tower.",
    "dune": "The best-selling sci-fi book is Dune [a novel].",
    "koala": "Koalas eat eucalyptus leaves.",
}
QUESTIONS = [
    {"question": "What is the capital of France?", "answers": ["Paris"], "passage_id": "france"},
    {"question": "What is the best-selling sci-fi book?", "answers": ["Dune"], "passage_id": "dune"},
    {"question": "What do koalas eat?", "answers": ["eucalyptus leaves"], "passage_id": "koala"},
]


@pytest.fixture(scope="module")
def files(tmp_path_factory, minilm_path):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    root = tmp_path_factory.mktemp("qa-cli")
    torch.manual_seed(0)
    BertForQuestionAnswering(BertConfig(vocab_size=30522, **tiny.SMALL)).save_pretrained(str(root / "reader"))
    tiny.save_tokenizer(minilm_path, root / "reader")
    quoref = root / "quoref"
    quoref.mkdir()
    (quoref / "passages.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in PASSAGES.items()))
    (quoref / "questions.jsonl").write_text("".join(json.dumps(question) + "\n" for question in QUESTIONS))
    with Collection.create(root / "collection", model="hashing:64", index="exact") as collection:
        collection.add(list(PASSAGES.values()), ids=list(PASSAGES))
    return {"root": root, "reader": root / "reader", "quoref": quoref, "collection": root / "collection",
            "sentence": tiny.sentence_folder(minilm_path, root / "st"), "bert": tiny.bert_folder(minilm_path, root / "bert")}


def test_ask_json_and_text(files):
    result = runner.invoke(app, ["ask", str(files["collection"]), "What is the capital of France?", "-k", "3",
                                 "--answers", "2", "--reader", str(files["reader"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "What is the capital of France?" and 1 <= len(data["answers"]) <= 2
    for answer in data["answers"]:
        assert PASSAGES[answer["passage_id"]][answer["start"] : answer["end"]] == answer["text"]
        assert answer["passage"] == PASSAGES[answer["passage_id"]]
    text = runner.invoke(app, ["ask", str(files["collection"]), "What is the best-selling book?", "-k", "1",
                               "--reader", str(files["reader"]), "--mode", "sparse"])
    assert text.exit_code == 0, text.output
    assert "1." in text.stdout and "passage dune" in text.stdout


def test_ask_errors(files, tmp_path):
    missing = runner.invoke(app, ["ask", str(tmp_path / "none"), "q?", "--reader", str(files["reader"])])
    assert missing.exit_code != 0
    bad_k = runner.invoke(app, ["ask", str(files["collection"]), "q?", "-k", "0", "--reader", str(files["reader"])])
    assert bad_k.exit_code != 0 and "k must be" in str(bad_k.exception)


def test_train_retriever_and_evaluate_it(files, tmp_path):
    out = tmp_path / "retriever"
    result = runner.invoke(app, ["train", "retriever", "--pairs", str(files["quoref"]), "--base", str(files["sentence"]),
                                 "--out", str(out), "--batch-size", "3", "--max-steps", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 1 and (out / "densekit_retriever.json").is_file()
    evaluated = runner.invoke(app, ["eval", "qa", "--passages", str(files["quoref"] / "passages.jsonl"),
                                    "--questions", str(files["quoref"] / "questions.jsonl"), "--retriever", str(out),
                                    "--k", "1", "--k", "3", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    data = json.loads(evaluated.stdout)
    assert data["recall"]["@3"] == 1.0 and data["gold_exact_match"] is None and data["settings"]["backend"] == "st-dual"


def test_train_reader(files, tmp_path):
    out = tmp_path / "reader"
    result = runner.invoke(app, ["train", "reader", "--examples", str(files["quoref"]), "--base", str(files["bert"]),
                                 "--out", str(out), "--batch-size", "2", "--max-steps", "1", "--max-length", "64",
                                 "--stride", "16", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 1 and (out / "densekit_reader.json").is_file()
    bad = runner.invoke(app, ["train", "reader", "--examples", str(tmp_path / "nothing.jsonl"), "--out", str(out)])
    assert bad.exit_code != 0 and "not found" in str(bad.exception)


def test_eval_qa_bm25_with_reader(files):
    result = runner.invoke(app, ["eval", "qa", "--passages", str(files["quoref"] / "passages.jsonl"),
                                 "--questions", str(files["quoref"] / "questions.jsonl"), "--reader", str(files["reader"]),
                                 "--reader-k", "2", "--k", "1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["questions"] == 3 and data["recall"]["@1"] == 1.0 and data["mrr_at_10"] == 1.0
    assert 0.0 <= data["gold_f1"] <= 1.0 and data["reader_passages"] == 2
    text = runner.invoke(app, ["eval", "qa", "--passages", str(files["quoref"] / "passages.jsonl"),
                               "--questions", str(files["quoref"] / "questions.jsonl"), "--limit", "2", "-q"])
    assert text.exit_code == 0 and "bm25: 2 questions" in text.stdout


def test_subprocesses(files, tmp_path):
    asked = subprocess.run([DENSEKIT, "ask", str(files["collection"]), "Who?", "--reader", str(files["reader"]), "--json"],
                           capture_output=True, text=True, timeout=600)
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["answers"]
    split = subprocess.run([DENSEKIT, "train", "split", str(files["quoref"]), str(tmp_path / "split"), "--test-fraction", "0.5"],
                           capture_output=True, text=True, timeout=600)
    assert split.returncode == 0, split.stderr
    assert "train:" in split.stdout and (tmp_path / "split" / "test" / "questions.jsonl").is_file()
    bad = subprocess.run([DENSEKIT, "eval", "qa", "--passages", str(files["quoref"] / "passages.jsonl"),
                          "--questions", str(tmp_path / "missing.jsonl")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stderr.startswith("error:")
