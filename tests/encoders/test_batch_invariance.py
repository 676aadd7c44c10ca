"""One text, one vector: the default backend encodes a text the same alone or in any batch.

Real packaged models (all-MiniLM-L6-v2, all-mpnet-base-v2) on real data (STS-B, Quoref); each
model is exported once into this module's DENSEKIT_HOME. The older "onnx-int8" backend is checked
to still load by name and to be batch-dependent (the reason for the new default).
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from densekit.encoders.defaults import default_backend
from densekit.encoders.factory import load_encoder
from densekit.eval.datasets import load_sts
from densekit.eval.sts import evaluate_sts

pytestmark = pytest.mark.slow

MODELS = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"]
TALK_PAIRS = [
    ("The bees decided to have a mutiny against their queen",
     "Flying stinging insects rebelled in opposition to the matriarch"),
    ("hi", "hello"),
    ("Bill ran from the giraffe towards the dolphin", "Bill ran from the dolphin towards the giraffe"),
]


@pytest.fixture(scope="module", autouse=True)
def default_rule(tmp_path_factory):
    """The product's own default (the suite pins torch) and a home for this module's exports."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DENSEKIT_BACKEND", raising=False)
        patch.setenv("DENSEKIT_HOME", str(tmp_path_factory.mktemp("invariance-home")))
        yield


@pytest.fixture(scope="module")
def texts(shared_data) -> list[str]:
    """200 random STS-B dev sentences and 50 random Quoref passages (fixed seed)."""
    pairs = load_sts(shared_data / "stsb" / "sts-dev.csv").items
    sentences = sorted({text for pair in pairs for text in (pair.sentence1, pair.sentence2)})
    with open(shared_data / "quoref" / "passages.jsonl", encoding="utf-8") as handle:
        passages = [json.loads(line)["text"] for line in handle if line.strip()]
    chooser = random.Random(16)
    return chooser.sample(sentences, 200) + chooser.sample(passages, 50)


@pytest.fixture(scope="module", params=MODELS)
def model(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def default_encoder(model):
    encoder = load_encoder(model)
    assert encoder.backend == default_backend(model) == "onnx-int8-row"
    return encoder


def alone_and_batched(encoder, texts: list[str], batch: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each text encoded alone, and the same texts shuffled into mixed-length batches of ``batch``."""
    alone = np.stack([encoder.encode([text])[0] for text in texts])
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    batched = np.zeros_like(alone)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        batched[chunk] = encoder.encode([texts[i] for i in chunk], batch_size=batch)
    return alone, batched


def test_a_text_gets_the_same_vector_alone_and_in_any_batch(default_encoder, texts):
    alone, batched = alone_and_batched(default_encoder, texts)
    cosines = np.sum(alone * batched, axis=1)
    assert cosines[:200].min() >= 0.9999, f"sentences: min cosine {cosines[:200].min():.6f}"
    assert cosines[200:].min() >= 0.9999, f"passages: min cosine {cosines[200:].min():.6f}"
    # a short text beside a long one (padding to the long one's length changes nothing)
    beside = default_encoder.encode(["hi", texts[-1]], batch_size=2)[0]
    assert float(beside @ default_encoder.encode(["hi"])[0]) >= 0.9999


def test_a_stored_text_searched_verbatim_scores_one_and_ranks_first(default_encoder, model, texts, tmp_path):
    from densekit.collection import Collection

    stored = texts[:60] + texts[200:210]
    with Collection.create(tmp_path / "notes", model=model) as collection:
        assert collection.spaces["text"].encoder_info["backend"] == "onnx-int8-row"
        collection.add(stored, ids=[str(number) for number in range(len(stored))])
        for number in (0, 7, 33, 59, 60, 69):
            hits = collection.search(stored[number], k=3)
            assert hits[0].id == str(number)
            assert hits[0].score >= 0.9999, f"{stored[number][:40]!r}: {hits[0].score:.6f}"


def test_talk_pairs_stay_within_0_02_of_fp32(default_encoder, model):
    reference = load_encoder(model, backend="torch")
    for first, second in TALK_PAIRS:
        ours = default_encoder.encode([first, second])
        fp32 = reference.encode([first, second])
        assert abs(float(ours[0] @ ours[1]) - float(fp32[0] @ fp32[1])) <= 0.02, (first, second)
    if model == "all-mpnet-base-v2":  # the number the talk quotes
        bees = reference.encode(list(TALK_PAIRS[0]))
        assert abs(float(bees[0] @ bees[1]) - 0.608) < 0.005


def test_sts_b_spearman_within_half_a_point_of_fp32(default_encoder, model, shared_data):
    pairs = load_sts(shared_data / "stsb" / "sts-dev.csv").items
    fp32 = evaluate_sts(load_encoder(model, backend="torch"), pairs).spearman
    ours = evaluate_sts(default_encoder, pairs).spearman
    assert ours >= fp32 - 0.5, f"{model}: onnx-int8-row {ours:.2f} vs torch fp32 {fp32:.2f}"


def test_the_older_int8_backend_still_loads_by_name_and_is_batch_dependent(texts):
    old = load_encoder("all-MiniLM-L6-v2", backend="onnx-int8")
    assert old.backend == "onnx-int8" and old.info().extra["quantization"].startswith("matmul-perchannel")
    alone, batched = alone_and_batched(old, texts[:64])
    assert np.sum(alone * batched, axis=1).min() < 0.999  # why it is no longer the default
