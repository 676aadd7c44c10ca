"""POST /similarity: a cosine matrix, or a ranking against a query."""

from __future__ import annotations

import numpy as np

from densekit.encoders.hashing import HashingEncoder
from densekit.server import Limits


def test_matrix(client):
    texts = ["a cat", "a kitten cat", "stock prices"]
    body = client.post("/similarity", json={"texts": texts}).json()
    vectors = HashingEncoder(64).encode(texts)
    np.testing.assert_allclose(np.array(body["cosine"]), vectors @ vectors.T, atol=1e-5)
    assert body["model"] == "hashing:64"


def test_ranking_with_k(client):
    body = client.post("/similarity", json={"texts": ["stock prices", "the cat", "cat food"], "query": "cat", "k": 2}).json()
    assert [item["index"] for item in body["ranking"]][0] in (1, 2)
    assert len(body["ranking"]) == 2 and body["ranking"][0]["score"] >= body["ranking"][1]["score"]
    assert "stock prices" not in [item["text"] for item in body["ranking"]]


def test_refusals(make_client):
    client = make_client(limits=Limits(max_batch=2))
    assert client.post("/similarity", json={"texts": ["a", "b", "c"]}).status_code == 413
    assert client.post("/similarity", json={"texts": ["a"], "query": "q", "k": 0}).status_code == 422
    response = client.post("/similarity", json={"texts": ["a", ""]})
    assert response.status_code == 422 and "empty string" in response.json()["error"]["message"]
    assert client.post("/similarity", json={"texts": ["a"], "model": "other"}).status_code == 404
