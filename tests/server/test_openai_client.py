"""The official ``openai`` client, pointed at a real uvicorn server with ``base_url``, works unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.encoders.hashing import HashingEncoder

openai = pytest.importorskip("openai", reason="the openai client is a test dependency: pip install openai")


def test_openai_client_embeddings(live_server):
    server = live_server(api_key="sk-local-test")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-local-test", max_retries=0)
    texts = ["The cat sat on the mat.", "Interest rates rose."]
    expected = HashingEncoder(64).encode(texts)

    # The client asks for base64 by default and decodes it itself.
    response = client.embeddings.create(model="hashing:64", input=texts)
    assert response.model == "hashing:64" and len(response.data) == 2
    np.testing.assert_allclose(np.array([item.embedding for item in response.data]), expected, atol=1e-6)
    assert response.usage.total_tokens == 9  # words: the hashing model has no tokenizer

    single = client.embeddings.create(model="hashing:64", input="The cat sat on the mat.", encoding_format="float")
    np.testing.assert_allclose(single.data[0].embedding, expected[0], atol=1e-6)

    assert [model.id for model in client.models.list()] == ["hashing:64"]


def test_openai_client_sees_clear_errors(live_server):
    server = live_server(api_key="sk-local-test")
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-local-test", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.UnprocessableEntityError, match="dimensions=8 is not supported"):
        client.embeddings.create(model="hashing:64", input="x", dimensions=8)
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="wrong API key"):
        wrong.embeddings.create(model="hashing:64", input="x")
