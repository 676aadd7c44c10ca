"""Dual encoders: DPR pairs through transformers and sentence-transformers asymmetric pairs, tiny
models built at test time and loaded through the user's code paths (factory, collection reopen)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders.dual import DualEncoder, load_dual_encoder, prompt_dual_encoder
from densekit.encoders.factory import BACKENDS, load_encoder
from densekit.errors import InvalidInputError

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[1] / "train" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

TEXTS = ["Canberra is the capital city of Australia.", "The best-selling sci-fi book is Dune.", "Cats purr."]


@pytest.fixture(scope="module")
def dpr_folder(tmp_path_factory, minilm_path):
    return tiny.dpr_retriever_folder(minilm_path, tmp_path_factory.mktemp("dpr"))


@pytest.fixture(scope="module")
def sentence_pair(tmp_path_factory, minilm_path):
    root = tmp_path_factory.mktemp("st")
    return tiny.sentence_folder(minilm_path, root / "q", seed=1), tiny.sentence_folder(minilm_path, root / "c", seed=2)


def test_backends_are_registered():
    assert {"dpr", "st-dual"} <= set(BACKENDS)


def test_dpr_uses_pooler_output_and_raw_inner_product(dpr_folder):
    import torch
    from transformers import AutoTokenizer, DPRContextEncoder, DPRQuestionEncoder

    encoder = load_encoder(str(dpr_folder), backend="dpr")
    assert isinstance(encoder, DualEncoder) and encoder.backend == "dpr" and encoder.dimension == 32
    contexts = encoder.encode(TEXTS)
    questions = encoder.encode_queries(["What is the capital of Australia?"])
    tokenizer = AutoTokenizer.from_pretrained(str(dpr_folder / "context_encoder"))
    with torch.inference_mode():
        batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
        expected = DPRContextEncoder.from_pretrained(str(dpr_folder / "context_encoder"))(**batch).pooler_output.numpy()
        batch = tokenizer(["What is the capital of Australia?"], return_tensors="pt")
        expected_question = DPRQuestionEncoder.from_pretrained(str(dpr_folder / "question_encoder"))(**batch).pooler_output.numpy()
    np.testing.assert_allclose(contexts, expected, atol=1e-5)
    np.testing.assert_allclose(questions, expected_question, atol=1e-5)
    assert not np.allclose(np.linalg.norm(contexts, axis=1), 1.0)  # DPR scores are not cosine
    info = encoder.info().as_dict()
    assert info["backend"] == "dpr" and info["normalized"] is False and info["metric"] == "ip"


def test_the_two_sides_differ(dpr_folder):
    encoder = load_dual_encoder(str(dpr_folder), backend="dpr")
    assert not np.allclose(encoder.encode(TEXTS[:1]), encoder.encode_queries(TEXTS[:1]))


def test_dpr_pair_reference(dpr_folder):
    reference = f"{dpr_folder / 'question_encoder'}+{dpr_folder / 'context_encoder'}"
    pair = load_encoder(reference, backend="dpr")
    saved = load_encoder(str(dpr_folder), backend="dpr")
    np.testing.assert_allclose(pair.encode(TEXTS), saved.encode(TEXTS), atol=1e-6)


def test_collection_searches_with_the_question_encoder_and_reopens(dpr_folder, tmp_path):
    encoder = load_dual_encoder(str(dpr_folder), backend="dpr")
    with Collection.create(tmp_path / "c", encoder=encoder, space="dpr", index="exact") as collection:
        collection.add(TEXTS, ids=["a", "b", "c"])
    question = "What is the capital city of Australia?"
    expected = (encoder.encode_queries([question]) @ encoder.encode(TEXTS).T)[0]
    reopened = Collection.open(tmp_path / "c", readonly=True)  # the encoder is rebuilt from the manifest
    try:
        hits = reopened.search(question, k=3, space="dpr")
        assert reopened.encoder("dpr").backend == "dpr"
    finally:
        reopened.close()
    scores = {hit.id: hit.score for hit in hits}
    np.testing.assert_allclose([scores["a"], scores["b"], scores["c"]], expected, rtol=1e-4, atol=1e-4)
    assert [hit.id for hit in hits] == [["a", "b", "c"][i] for i in np.argsort(-expected)]


def test_add_space_to_an_existing_collection(dpr_folder, tmp_path, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        collection.add(TEXTS, ids=["a", "b", "c"])
        collection.add_space("dpr", load_dual_encoder(str(dpr_folder), backend="dpr"))
    reader = Collection.open(tmp_path / "c", readonly=True)
    try:
        assert len(reader.search("capital of Australia", k=5, space="dpr")) == 3
        assert reader.info()["spaces"]["dpr"]["backend"] == "dpr"
    finally:
        reader.close()


def test_sentence_transformers_pair(sentence_pair):
    question, context = sentence_pair
    encoder = load_encoder(f"{question}+{context}", backend="st-dual")
    assert encoder.backend == "st-dual" and encoder.info().normalized
    vectors = encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    from sentence_transformers import SentenceTransformer

    direct = SentenceTransformer(str(question), device="cpu").encode(["Who?"], normalize_embeddings=True)
    np.testing.assert_allclose(encoder.encode_queries(["Who?"]), direct, atol=1e-5)


def test_one_model_with_prompts_saved_and_reloaded(sentence_pair, tmp_path):
    from sentence_transformers import SentenceTransformer

    model_folder = sentence_pair[0]
    encoder = prompt_dual_encoder(str(model_folder), "query: ", "passage: ", out=tmp_path / "prompted")
    config = json.loads((tmp_path / "prompted" / "densekit_retriever.json").read_text())
    assert config["shared"] and config["query_prompt"] == "query: "
    model = SentenceTransformer(str(model_folder), device="cpu")
    np.testing.assert_allclose(encoder.encode_queries(["cats"]), model.encode(["query: cats"], normalize_embeddings=True), atol=1e-5)
    np.testing.assert_allclose(encoder.encode(["cats"]), model.encode(["passage: cats"], normalize_embeddings=True), atol=1e-5)
    reloaded = load_encoder(str(tmp_path / "prompted"), backend="st-dual")
    np.testing.assert_allclose(reloaded.encode_queries(["cats"]), encoder.encode_queries(["cats"]), atol=1e-6)


def test_symmetric_single_model_is_refused(sentence_pair):
    with pytest.raises(InvalidInputError, match="symmetric"):
        load_encoder(str(sentence_pair[0]), backend="st-dual")


def test_bad_references(tmp_path, dpr_folder):
    with pytest.raises(InvalidInputError, match="backend"):
        load_dual_encoder(str(dpr_folder), backend="clip")
    with pytest.raises(InvalidInputError, match="expected a saved retriever folder"):
        load_dual_encoder(str(tmp_path), backend="dpr")
    (tmp_path / "densekit_retriever.json").write_text('{"kind": "colbert"}')
    with pytest.raises(InvalidInputError, match="colbert"):
        load_dual_encoder(str(tmp_path))
    with pytest.raises(InvalidInputError, match="QUESTION_MODEL\\+CONTEXT_MODEL"):
        load_dual_encoder("+", backend="dpr")


def test_towers_of_different_sizes_are_refused(dpr_folder):
    encoder = load_dual_encoder(str(dpr_folder), backend="dpr")

    class Wide:
        dimension = 64
        max_length = 16

    with pytest.raises(InvalidInputError, match="one vector space"):
        DualEncoder("x", "dpr", Wide(), encoder.context_tower, False)
