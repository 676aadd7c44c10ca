"""POST /v1/embeddings (OpenAI shape), GET /v1/models and their refusals."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from densekit.encoders.hashing import HashingEncoder
from densekit.server import Limits


def test_float_embeddings_match_the_encoder(client):
    response = client.post("/v1/embeddings", json={"model": "hashing:64", "input": ["a cat", "stock prices"]})
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list" and body["model"] == "hashing:64"
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert all(item["object"] == "embedding" for item in body["data"])
    vectors = np.array([item["embedding"] for item in body["data"]], dtype=np.float32)
    expected = HashingEncoder(64).encode(["a cat", "stock prices"])
    np.testing.assert_allclose(vectors, expected, rtol=1e-6, atol=1e-7)
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] == 4


def test_base64_is_little_endian_float32(client):
    response = client.post("/v1/embeddings", json={"input": "a cat", "encoding_format": "base64"})
    assert response.status_code == 200
    encoded = response.json()["data"][0]["embedding"]
    vector = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
    np.testing.assert_array_equal(vector, HashingEncoder(64).encode(["a cat"])[0])


def test_single_string_and_default_model(client):
    body = client.post("/v1/embeddings", json={"input": "just one"}).json()
    assert body["model"] == "hashing:64" and len(body["data"]) == 1 and len(body["data"][0]["embedding"]) == 64


def test_dimensions_equal_to_the_model_is_accepted_other_refused(client):
    assert client.post("/v1/embeddings", json={"input": "x", "dimensions": 64}).status_code == 200
    response = client.post("/v1/embeddings", json={"input": "x", "dimensions": 32})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["param"] == "dimensions" and "64-dimensional" in error["message"]


@pytest.mark.parametrize(
    "payload, status, words",
    [
        ({"model": "text-embedding-3-small", "input": "x"}, 404, "models: hashing:64"),
        ({"input": [1, 2, 3]}, 422, "token ids"),
        ({"input": [[1, 2], [3]]}, 422, "token ids"),
        ({"input": []}, 422, "empty list"),
        ({"input": ["fine", "  "]}, 422, "item 1 is an empty string"),
        ({"input": "x", "encoding_format": "int8"}, 422, "encoding_format"),
        ({}, 422, "input: Field required"),
    ],
)
def test_bad_requests_say_what_was_wrong(client, payload, status, words):
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_batch_and_text_limits(make_client):
    client = make_client(limits=Limits(max_batch=3, max_text_chars=50))
    response = client.post("/v1/embeddings", json={"input": ["a", "b", "c", "d"]})
    assert response.status_code == 413 and "at most 3 per request" in response.json()["error"]["message"]
    response = client.post("/v1/embeddings", json={"input": ["short", "x" * 51]})
    assert response.status_code == 413 and "input[1] is 51 characters" in response.json()["error"]["message"]
    assert client.post("/v1/embeddings", json={"input": ["a", "b", "x" * 50]}).status_code == 200


def test_models_lists_default_first(make_client):
    client = make_client(models=("hashing:8", "hashing:64"))
    body = client.get("/v1/models").json()
    assert [card["id"] for card in body["data"]] == ["hashing:64", "hashing:8"]
    vector = client.post("/v1/embeddings", json={"model": "hashing:8", "input": "x"}).json()["data"][0]["embedding"]
    assert len(vector) == 8


def test_a_client_never_names_a_path(client, tmp_path):
    # A model reference that is a path on the server is just an unknown model name.
    response = client.post("/v1/embeddings", json={"model": str(tmp_path), "input": "x"})
    assert response.status_code == 404
