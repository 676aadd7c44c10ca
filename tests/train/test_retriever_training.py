"""Retriever training: pair loading, BM25 hard negatives, a few contrastive steps on a tiny model,
and the reference case with the benchmark's trained retriever when it exists."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from densekit.encoders.factory import load_encoder
from densekit.errors import InvalidInputError
from densekit.train.retriever import Pair, add_bm25_negatives, load_pairs, train_retriever

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parent / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

PAIRS = [
    Pair("What is the capital city of Australia?", "Canberra is the capital city of Australia."),
    Pair("What is the best-selling sci-fi book?", "The best-selling sci-fi book is Dune."),
    Pair("How many searches are performed on Google?", "Google serves more than 2 trillion queries annually."),
    Pair("Where do koalas live?", "Koalas live in eucalyptus forests of eastern Australia."),
    Pair("Who wrote Dune?", "Frank Herbert wrote Dune, a science fiction novel."),
    Pair("When was Google founded?", "Google was founded in 1998."),
]


def test_load_pairs_from_quoref_and_jsonl(shared_data, tmp_path):
    train = load_pairs(shared_data / "quoref", split="train")
    test = load_pairs(shared_data / "quoref", split="test")
    assert len(train) + len(test) == 3302
    assert not {pair.positive for pair in train} & {pair.positive for pair in test}
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"question": "q1", "positive": "p1"}\n\n{"question": "q2", "passage": "p2", "negatives": ["n"]}\n')
    assert load_pairs(path) == [Pair("q1", "p1"), Pair("q2", "p2", ("n",))]
    path.write_text('{"question": "q1"}\n')
    with pytest.raises(InvalidInputError, match="pairs.jsonl:1"):
        load_pairs(path)
    with pytest.raises(InvalidInputError, match="not found"):
        load_pairs(tmp_path / "missing.jsonl")


def test_bm25_negatives_are_related_but_not_the_positive():
    enriched = add_bm25_negatives(PAIRS)
    by_question = {pair.question: pair for pair in enriched}
    negative = by_question["Who wrote Dune?"].negatives
    assert len(negative) == 1 and negative[0] != by_question["Who wrote Dune?"].positive
    assert "Dune" in negative[0]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, minilm_path):
    return tiny.sentence_folder(minilm_path, tmp_path_factory.mktemp("base"))


def test_training_saves_a_loadable_retriever(tiny_base, tmp_path):
    logged, progressed = [], []
    report = train_retriever(PAIRS * 4, str(tiny_base), tmp_path / "retriever", batch_size=6, max_steps=3,
                             hard_negatives="bm25", learning_rate=1e-3, log=logged.append,
                             progress=lambda done, total: progressed.append((done, total)))
    assert report.steps == 3 and report.examples == 18 and len(logged) == 3
    assert progressed[0] == (0, 3) and progressed[-1] == (3, 3)
    assert all(np.isfinite(entry["loss"]) for entry in logged)
    config = json.loads((tmp_path / "retriever" / "densekit_retriever.json").read_text())
    assert config["kind"] == "st-dual" and config["training"]["hard_negatives"] == "bm25"
    encoder = load_encoder(str(tmp_path / "retriever"), backend="st-dual")
    assert encoder.encode_queries(["who?"]).shape == (1, 32)
    # The towers were trained separately: they no longer agree.
    assert not np.allclose(encoder.encode(["who?"]), encoder.encode_queries(["who?"]))


def test_training_lowers_the_loss(tiny_base, tmp_path):
    logged = []
    train_retriever(PAIRS, str(tiny_base), tmp_path / "r", batch_size=6, epochs=30, learning_rate=2e-3, log=logged.append)
    assert np.mean([entry["loss"] for entry in logged[-5:]]) < np.mean([entry["loss"] for entry in logged[:5]])


def test_bad_arguments(tiny_base, tmp_path):
    with pytest.raises(InvalidInputError, match="hard_negatives"):
        train_retriever(PAIRS, str(tiny_base), tmp_path, hard_negatives="random")
    with pytest.raises(InvalidInputError, match="batch_size"):
        train_retriever(PAIRS, str(tiny_base), tmp_path, batch_size=1)
    with pytest.raises(InvalidInputError, match="at least 2 pairs"):
        train_retriever(PAIRS[:1], str(tiny_base), tmp_path)


def _trained_retriever() -> Path | None:
    from densekit import config

    folder = config.home() / "models" / "densekit-quoref-retriever"
    return folder if (folder / "densekit_retriever.json").is_file() else None


@pytest.mark.slow
def test_reference_case_symmetric_model_ranks_the_copy_first(minilm_encoder):
    from densekit.testing.qa_reference import reference_case

    ranks = reference_case(minilm_encoder)
    assert all(rank.copy_rank == 1 for rank in ranks)  # the problem the DPR-style retriever must solve


# Looked up once, at collection: other tests point DENSEKIT_HOME elsewhere while they run.
TRAINED_RETRIEVER = _trained_retriever()


@pytest.mark.slow
@pytest.mark.skipif(TRAINED_RETRIEVER is None, reason="benchmark retriever not trained in DENSEKIT_HOME/models/densekit-quoref-retriever")
def test_reference_case_with_the_trained_retriever(minilm_encoder):
    """The issue's goal: with the trained DPR-style retriever, every answer context outranks the copy
    of its question, where the symmetric start model ranks every copy first (benchmark retriever:
    203 more steps with the question copy as a hard negative reach 3 of 3)."""
    from densekit.testing.qa_reference import reference_case

    trained = reference_case(load_encoder(str(TRAINED_RETRIEVER), backend="st-dual"))
    assert all(rank.answer_outranks_copy for rank in trained), trained
    assert all(rank.answer_rank == 1 for rank in trained), trained
