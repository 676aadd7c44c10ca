"""SentenceEncoder over the packaged MiniLM (and, marked slow, the packaged mpnet pieces)."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.encoders import threads
from densekit.encoders.sentence import SentenceEncoder, load_sentence_encoder
from densekit.errors import InvalidInputError
from densekit.models import resolve_model

BEES = "The bees decided to have a mutiny against their queen"
INSECTS = "Flying stinging insects rebelled in opposition to the matriarch"
UNRELATED = [
    "The stock market closed higher after the central bank's announcement.",
    "She baked a loaf of sourdough bread for the family dinner.",
    "The new smartphone has a larger screen and a faster processor.",
    "Heavy snowfall closed the mountain roads for two days.",
    "He practised the violin every evening before the concert.",
]
TEXTS = [
    "A man is playing a guitar.",
    "Cats sleep most of the day, waking mainly to eat and to watch birds through the window.",
    "Hi",
    "The committee postponed its decision until the next quarterly meeting in the spring.",
    "Rain again.",
]


def cosine(first: np.ndarray, second: np.ndarray) -> float:
    return float(first @ second / (np.linalg.norm(first) * np.linalg.norm(second)))


def test_identity_and_shape_facts(minilm_encoder):
    assert minilm_encoder.dimension == 384
    assert minilm_encoder.max_seq_length == 256
    assert minilm_encoder.backend == "torch"
    assert minilm_encoder.info().as_dict()["dimension"] == 384


def test_encode_shape_dtype_and_unit_rows(minilm_encoder):
    vectors = minilm_encoder.encode(TEXTS, batch_size=2)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_unnormalized_output_matches_plain_sentence_transformers(minilm_encoder):
    raw = minilm_encoder.encode(TEXTS, normalize=False)
    plain = minilm_encoder.model.encode(TEXTS, convert_to_numpy=True)
    np.testing.assert_allclose(raw, plain, atol=1e-5)


def test_empty_list_gives_empty_array(minilm_encoder):
    vectors = minilm_encoder.encode([])
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


@pytest.mark.parametrize("bad, position", [(["fine", 3, "ok"], "item 1"), (["fine", "ok", "  "], "item 2")])
def test_bad_items_name_their_position(minilm_encoder, bad, position):
    with pytest.raises(InvalidInputError, match=position):
        minilm_encoder.encode(bad)


def test_order_is_restored_after_length_sorting(minilm_encoder):
    together = minilm_encoder.encode(TEXTS, batch_size=2)
    alone = np.stack([minilm_encoder.encode([text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=2e-5)


def test_progress_reports_totals(minilm_encoder):
    calls = []
    minilm_encoder.encode(TEXTS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_bees_acceptance_with_minilm(minilm_encoder):
    vectors = minilm_encoder.encode([BEES, INSECTS, *UNRELATED])
    pair = float(vectors[0] @ vectors[1])
    assert pair == pytest.approx(0.44, abs=0.05)
    assert pair > 0.3
    assert all(pair > float(vectors[1] @ other) for other in vectors[2:])
    assert all(pair > float(vectors[0] @ other) for other in vectors[2:])


def test_token_spans_are_character_offsets_without_special_tokens(minilm_encoder):
    text = "Hello, world! Naïve tokenisation."
    spans = minilm_encoder.token_spans(text)
    assert spans[:4] == [(0, 5), (5, 6), (7, 12), (12, 13)]
    assert all(0 <= start < end <= len(text) for start, end in spans)
    assert minilm_encoder.count_tokens(text) == len(spans)
    # Longer than the model's limit: counted in full, never truncated.
    long_text = " ".join(["word"] * 600)
    assert minilm_encoder.count_tokens(long_text) == 600


def test_short_name_becomes_canonical_model_name(minilm_encoder):
    encoder = SentenceEncoder("all-MiniLM-L6-v2", model=minilm_encoder.model)
    assert encoder.model_name == "sentence-transformers/all-MiniLM-L6-v2"


def test_loader_names_the_model_as_referenced(tmp_home, minilm_path):
    by_name = load_sentence_encoder("all-MiniLM-L6-v2")
    by_path = load_sentence_encoder(str(minilm_path))
    assert by_path.model is not by_name.model  # no process-wide cache (loaded_models.Models shares)
    assert by_path.model_name == str(minilm_path) and by_path.path == minilm_path
    assert by_name.model_name == "sentence-transformers/all-MiniLM-L6-v2"


def test_default_threads_follow_cores_and_setting(monkeypatch):
    monkeypatch.delenv("DENSEKIT_THREADS", raising=False)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    assert threads.default_threads() == 1
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert threads.default_threads() == 4
    monkeypatch.setenv("DENSEKIT_THREADS", "3")
    assert threads.default_threads() == 3


def test_configure_torch_threads(minilm_encoder):
    import torch

    assert threads.configure_torch_threads(1) == 1
    assert torch.get_num_threads() == 1
    assert threads.configure_torch_threads() == 1  # default is applied once; later calls keep it
    with pytest.raises(InvalidInputError, match="0"):
        threads.configure_torch_threads(0)


@pytest.mark.slow
def test_real_mpnet_from_pieces(tmp_home):
    folder = resolve_model("all-mpnet-base-v2")
    assert folder == tmp_home / "models" / "sentence-transformers__all-mpnet-base-v2"
    assert not list(folder.rglob("desktop.ini"))
    encoder = SentenceEncoder("all-mpnet-base-v2", threads=1)
    assert (encoder.model_name, encoder.dimension, encoder.max_seq_length) == (
        "sentence-transformers/all-mpnet-base-v2", 768, 384,
    )
    vectors = encoder.encode([BEES, INSECTS, *UNRELATED])
    assert 0.55 <= float(vectors[0] @ vectors[1]) <= 0.67
    for other in vectors[2:]:
        assert float(vectors[1] @ other) < 0.2
