"""POST /collections/{name}/ask with a tiny reader built at test time."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # builds and loads a (tiny) transformers reader


def test_answers_are_spans_of_their_passages(make_client, tiny_reader_path):
    client = make_client(reader=str(tiny_reader_path))
    response = client.post("/collections/pets/ask", json={"question": "Where did the cat sit?", "k": 3, "answers": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["question"] == "Where did the cat sit?" and 1 <= len(body["answers"]) <= 2
    for answer in body["answers"]:
        assert answer["passage"][answer["start"]:answer["end"]] == answer["answer"] == answer["text"]
        assert 0.0 <= answer["score"] <= 1.0 and answer["id"] == answer["passage_id"]
    scores = [answer["score"] for answer in body["answers"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    "payload, status, words",
    [
        ({"question": "x", "k": 0}, 422, "k is 0"),
        ({"question": "x", "answers": 1000}, 422, "answers is 1000"),
        ({"question": " "}, 422, "question must be a non-empty string"),
        ({"question": "q" * 30_000}, 413, "30000 characters"),
    ],
)
def test_ask_refusals(make_client, tiny_reader_path, payload, status, words):
    client = make_client(reader=str(tiny_reader_path))
    response = client.post("/collections/pets/ask", json=payload)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]


def test_a_missing_reader_is_a_clear_503(make_client, tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    client = make_client(reader=str(tmp_path / "no-such-reader"))
    response = client.post("/collections/pets/ask", json={"question": "Where?"})
    assert response.status_code == 503, response.text
    assert "no-such-reader" in response.json()["error"]["message"]
