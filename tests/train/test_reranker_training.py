"""Reranker training: examples from Quoref-layout and STS-B files with BM25 hard negatives, a short run
on a tiny BERT whose loss falls, and the saved model loading and reranking through ``--rerank``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.errors import InvalidInputError
from densekit.rerank import CrossEncoderReranker
from densekit.train.reranker import RERANKER_FILE, RerankExample, paraphrase_examples, quoref_examples, train_reranker

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parent / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

PASSAGES = {
    "p1": "Maria Lopez founded the orchestra in Madrid. " * 3 + "Her brother Carlos played the violin for forty years.",
    "p2": "The lighthouse on the northern cape was built by engineers from Oslo. Its keeper was Anders Berg.",
    "p3": "Anders Berg wrote three novels about the sea; the violin in his first novel belonged to a sailor.",
}
QUESTIONS = [
    {"question": "Who played the violin in the orchestra Maria Lopez founded?", "answers": ["Carlos"], "passage_id": "p1"},
    {"question": "Who kept the lighthouse by the sea?", "answers": ["Anders Berg"], "passage_id": "p2"},
    {"question": "How many novels about the sea did the author write?", "answers": ["three"], "passage_id": "p3"},
]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_path):
    return tiny.bert_folder(minilm_path, tmp_path_factory.mktemp("bert"), hidden_size=64, intermediate_size=128)


@pytest.fixture
def quoref_folder(tmp_path):
    folder = tmp_path / "quoref"
    folder.mkdir()
    (folder / "passages.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in PASSAGES.items()))
    (folder / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return folder


def test_quoref_examples_pair_the_answer_chunk_with_other_passages(quoref_folder, minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    examples = quoref_examples(quoref_folder, tokenizer, split="all", negatives=2, chunk_tokens=20, overlap=4)
    assert [example.query for example in examples] == [q["question"] for q in QUESTIONS]
    for example, question in zip(examples, QUESTIONS):
        own = PASSAGES[question["passage_id"]]
        assert question["answers"][0] in example.positive and example.positive in own
        assert len(tiny_tokens(tokenizer, example.positive)) <= 20
        assert len(example.negatives) == 2 and not any(negative in own for negative in example.negatives)
    # BM25's best other chunk for the lighthouse question is the one that shares "sea" (p3).
    assert "sea" in examples[1].negatives[0] and examples[1].negatives[0] in PASSAGES["p3"]


def tiny_tokens(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_paraphrase_examples_follow_the_stsb_rule(tmp_path):
    rows = [("A man is playing a guitar.", "A man plays the guitar.", 4.6),
            ("A woman is slicing an onion.", "Someone is cutting an onion.", 4.2),
            ("A dog runs in a field.", "A man is playing a flute.", 0.2),
            ("The cat sleeps.", "A cat is sleeping on the sofa.", 3.0)]
    source = tmp_path / "sts.csv"
    source.write_text("".join(f"main-captions\tMSRvid\t2012\t{n}\t{score}\t{a}\t{b}\n" for n, (a, b, score) in enumerate(rows)))
    examples = paraphrase_examples(source, negatives=2)
    assert [(e.query, e.positive) for e in examples] == [(a, b) for a, b, score in rows if score >= 4]
    assert all(len(e.negatives) == 2 and e.positive not in e.negatives for e in examples)
    assert examples[0].negatives[0] == "A man is playing a flute."  # shares "a man is playing"
    with pytest.raises(InvalidInputError, match="negatives"):
        paraphrase_examples(source, negatives=0)


def capitals(rows):
    return [RerankExample(f"what is the capital of {country}", f"{capital} is the capital of {country}",
                          (f"{sight} is in {country}",)) for country, capital, sight in rows]


def test_loss_falls_and_the_saved_model_loads_and_reranks(tiny_bert, tmp_path):
    examples = capitals(tiny.COUNTRIES)
    logged = []
    report = train_reranker(examples, str(tiny_bert), tmp_path / "reranker", batch_size=8, epochs=30,
                            learning_rate=1e-3, max_length=32, seed=1, log=logged.append)
    losses = [entry["loss"] for entry in logged]
    assert report.steps == len(logged) == 90 and report.examples == 30 * len(examples)
    assert np.mean(losses[:5]) > 0.6 and np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])  # ln 2 at the start
    saved = json.loads((tmp_path / "reranker" / RERANKER_FILE).read_text())
    assert saved["max_length"] == 32 and saved["training"]["group"] == 2 and saved["training"]["steps"] == 90
    reranker = CrossEncoderReranker(str(tmp_path / "reranker"), max_length=32)
    won = [reranker.rerank(e.query, [e.negatives[0], e.positive])[1] > reranker.rerank(e.query, [e.negatives[0]])[0]
           for e in examples]
    assert sum(won) >= 0.8 * len(examples)


def test_the_trained_reranker_reorders_collection_search(tiny_bert, tmp_path, hashing_encoder):
    from densekit.collection import Collection

    examples = capitals(tiny.COUNTRIES)
    train_reranker(examples, str(tiny_bert), tmp_path / "reranker", batch_size=8, epochs=30, learning_rate=1e-3,
                   max_length=32, seed=1)
    texts = [text for e in examples for text in (e.negatives[0], e.positive)]
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as target:
        target.add(texts)
    query = "what is the capital of Spain"
    with Collection.open(tmp_path / "c", readonly=True, encoder=hashing_encoder) as target:
        plain = target.search(query, k=6, mode="sparse")
        reranked = target.search(query, k=6, mode="sparse", rerank=str(tmp_path / "reranker"), rerank_depth=6)
    scores = CrossEncoderReranker(str(tmp_path / "reranker")).rerank(query, [hit.text for hit in plain])
    # The hits are the plain search's, ordered by the trained model's own scores (ties in any order).
    assert sorted((round(hit.score, 5), hit.text) for hit in reranked) == sorted(
        (round(score, 5), hit.text) for score, hit in zip(scores.tolist(), plain))
    assert [hit.score for hit in reranked] == sorted((hit.score for hit in reranked), reverse=True)


def test_bad_examples(tiny_bert, tmp_path):
    with pytest.raises(InvalidInputError, match="at least one example"):
        train_reranker([], str(tiny_bert), tmp_path)
    mixed = [RerankExample("q", "p", ("n",)), RerankExample("q", "p", ("n", "m"))]
    with pytest.raises(InvalidInputError, match="same number"):
        train_reranker(mixed, str(tiny_bert), tmp_path)


def test_cli_trains_from_quoref_and_stsb(tiny_bert, quoref_folder, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli-reranker"
    result = runner.invoke(app, ["train", "reranker", "--quoref", str(quoref_folder), "--base", str(tiny_bert),
                                 "--out", str(out), "--split", "all", "--negatives", "1", "--max-steps", "2", "--batch-size", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["steps"] == 2 and report["out"] == str(out) and (out / RERANKER_FILE).is_file()
    refused = runner.invoke(app, ["train", "reranker", "--out", str(out)])
    assert refused.exit_code != 0 and isinstance(refused.exception, InvalidInputError)
    assert "--quoref FOLDER, --stsb FILE or both" in str(refused.exception)  # main() prints it, exit 2


def test_too_few_texts_for_the_negatives_is_a_clear_error(quoref_folder, minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    with pytest.raises(InvalidInputError, match="too few texts to give .* 9 negatives"):
        quoref_examples(quoref_folder, tokenizer, split="all", negatives=9, chunk_tokens=20, overlap=4)
