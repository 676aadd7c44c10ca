"""Collection routes: list, info, search, documents, and the name rules that keep clients off paths."""

from __future__ import annotations

import pytest

from densekit.collection import Collection
from densekit.server import Limits


def test_list_and_info(client):
    listing = client.get("/collections").json()["collections"]
    assert listing == [{"name": "pets", "count": 6, "model": "hashing:64", "spaces": ["text"]}]
    info = client.get("/collections/pets").json()
    assert info["name"] == "pets" and info["count"] == 6 and info["spaces"]["text"]["dimension"] == 64
    assert "path" not in info  # the server's folders are not the client's business


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_search_modes(client, mode):
    response = client.post("/collections/pets/search", json={"query": "interest rates at the bank", "k": 2, "mode": mode})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode and len(body["hits"]) == 2
    assert {hit["id"] for hit in body["hits"]} == {"fin-1", "fin-2"}
    assert body["hits"][0]["score"] >= body["hits"][1]["score"]


def test_search_matches_the_library(client, collections_root, hashing_encoder):
    body = client.post("/collections/pets/search", json={"query": "a cat on a mat", "k": 3}).json()
    with Collection.open(collections_root / "pets", readonly=True, encoder=hashing_encoder) as target:
        expected = [hit.as_dict() for hit in target.search("a cat on a mat", k=3)]
    assert body["hits"] == expected


def test_search_filter(client):
    body = client.post("/collections/pets/search", json={"query": "cat", "k": 5, "where": {"year": {"$gte": 2005}}}).json()
    assert body["hits"] and all(hit["metadata"]["year"] >= 2005 for hit in body["hits"])
    bad = client.post("/collections/pets/search", json={"query": "cat", "where": {"year": {"$near": 1}}})
    assert bad.status_code == 422 and "$near" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    "payload, words",
    [
        ({"query": "cat", "k": 0}, "k is 0; expected 1 to 100"),
        ({"query": "cat", "k": 101}, "k is 101"),
        ({"query": "cat", "mode": "fuzzy"}, "mode"),
        ({"query": " "}, "query must be a non-empty string"),
        ({"query": "cat", "alpha": 2}, "alpha"),
        ({"query": "cat", "space": "images"}, "no space 'images'"),
        ({"k": 3}, "query: Field required"),
    ],
)
def test_search_refusals(client, payload, words):
    response = client.post("/collections/pets/search", json=payload)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


def test_add_get_upsert_delete(client):
    added = client.post("/collections/pets/documents", json={"documents": [
        {"id": "bird-1", "text": "A robin sang in the tree.", "metadata": {"animal": "bird"}},
        {"id": "bird-2", "text": "Parrots can learn words."},
    ]})
    assert added.status_code == 201 and added.json()["ids"] == ["bird-1", "bird-2"] and added.json()["count"] == 8
    hits = client.post("/collections/pets/search", json={"query": "robin sang", "k": 1}).json()["hits"]
    assert hits[0]["id"] == "bird-1"  # readers see the commit at once
    assert client.get("/collections/pets/documents/bird-1").json()["metadata"] == {"animal": "bird"}

    again = client.post("/collections/pets/documents", json={"documents": [{"id": "bird-1", "text": "dup"}]})
    assert again.status_code == 422 and "use upsert" in again.json()["error"]["message"]
    upserted = client.post("/collections/pets/documents", json={"upsert": True, "documents": [
        {"id": "bird-1", "text": "An owl hooted at night."}]})
    assert upserted.status_code == 201 and upserted.json()["count"] == 8
    assert client.get("/collections/pets/documents/bird-1").json()["text"] == "An owl hooted at night."

    deleted = client.delete("/collections/pets/documents/bird-1")
    assert deleted.status_code == 200 and deleted.json() == {"collection": "pets", "deleted": 1, "count": 7}
    assert client.get("/collections/pets/documents/bird-1").status_code == 404
    missing = client.delete("/collections/pets/documents/bird-1")
    assert missing.status_code == 404 and "no item 'bird-1'" in missing.json()["error"]["message"]
    assert client.get("/collections").json()["collections"][0]["count"] == 7


def test_generated_ids_and_document_refusals(make_client):
    client = make_client(limits=Limits(max_batch=2, max_text_chars=100))
    added = client.post("/collections/pets/documents", json={"documents": [{"text": "no id here"}]})
    assert added.status_code == 201 and len(added.json()["ids"][0]) == 32
    cases = [
        ({"documents": []}, 422, "documents is empty"),
        ({"documents": [{"text": "a"}] * 3}, 413, "at most 2 per request"),
        ({"documents": [{"id": "x", "text": "y" * 101}]}, 413, "101 characters"),
        ({"upsert": True, "documents": [{"text": "no id"}]}, 422, "upsert needs an id"),
        ({"documents": [{"id": "x", "text": "a"}, {"text": "b"}]}, 422, "on every document or on none"),
        ({"documents": [{"id": "x", "text": " "}]}, 422, "empty string"),
    ]
    for payload, status, words in cases:
        response = client.post("/collections/pets/documents", json=payload)
        assert response.status_code == status, (payload, response.text)
        assert words in response.json()["error"]["message"], (payload, response.text)
    assert client.get("/collections/pets").json()["count"] == 7  # refused requests wrote nothing


@pytest.mark.parametrize("name", ["...", ".hidden", "pets.old", "a" * 65, "-pets", "pets%00", "pe ts", "%2e%2e"])
def test_invalid_names_are_refused(client, name):
    response = client.get(f"/collections/{name}")
    assert response.status_code == 422, response.text
    assert "invalid collection name" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/collections/../../etc/passwd", "/collections/..%2F..%2Fetc", "/collections/pets/../pets2"])
def test_traversal_paths_reach_no_collection(client, path):
    response = client.get(path)
    assert response.status_code in (404, 422)
    assert "root" not in response.text


@pytest.mark.parametrize("name", ["..", ".", "../pets", "pets/..", "/etc", "~root", ""])
def test_registry_refuses_path_like_names(client, name):
    # HTTP clients normalise "/collections/.." away before sending; the registry refuses it anyway.
    from densekit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="invalid collection name"):
        client.app.state.registry.location(name)


def test_unknown_name_lists_served(client):
    response = client.post("/collections/other/search", json={"query": "x"})
    assert response.status_code == 404 and "served: pets" in response.json()["error"]["message"]


def test_root_folder_serves_its_collections(make_client, collections_root, hashing_encoder, tmp_path):
    with Collection.create(collections_root / "notes", encoder=hashing_encoder) as target:
        target.add(["a note about whales"], ids=["n1"])
    (collections_root / "not-a-collection").mkdir()
    outside = tmp_path / "outside"
    with Collection.create(outside, encoder=hashing_encoder) as target:
        target.add(["secret"], ids=["s1"])
    (collections_root / "escape").symlink_to(outside, target_is_directory=True)

    client = make_client(collections={}, root=collections_root)
    names = [item["name"] for item in client.get("/collections").json()["collections"]]
    assert names == ["notes", "pets"]
    assert client.post("/collections/notes/search", json={"query": "whales"}).json()["hits"][0]["id"] == "n1"
    assert client.get("/collections/not-a-collection").status_code == 404
    assert client.get("/collections/escape").status_code == 404  # a link leading out of the root


def test_a_locked_collection_answers_409(client, collections_root):
    with Collection.open(collections_root / "pets"):
        response = client.post("/collections/pets/documents", json={"documents": [{"text": "blocked"}]})
    assert response.status_code == 409 and "one writer at a time" in response.json()["error"]["message"]


def test_search_explain(client):
    payload = {"query": "interest rates at the bank", "k": 3, "mode": "hybrid", "explain": True}
    hits = client.post("/collections/pets/search", json=payload).json()["hits"]
    dense = client.post("/collections/pets/search", json={**payload, "mode": "dense", "k": 6, "explain": False}).json()["hits"]
    dense_ranks = {hit["id"]: (hit["score"], rank) for rank, hit in enumerate(dense, start=1)}
    assert len(hits) == 3
    for hit in hits:
        explained = hit["explain"]
        assert explained["fusion"] == "probability" and explained["score"] == pytest.approx(hit["score"], abs=1e-6)
        assert explained["dense"]["share"] + (explained["sparse"] or {"share": 0})["share"] == pytest.approx(hit["score"], abs=1e-6)
        assert (round(explained["dense"]["score"], 6), explained["dense"]["rank"]) == dense_ranks[hit["id"]]
    plain = client.post("/collections/pets/search", json={**payload, "explain": False}).json()["hits"]
    assert [hit["id"] for hit in plain] == [hit["id"] for hit in hits] and "explain" not in plain[0]
    assert client.post("/collections/pets/search", json={**payload, "explain": "maybe"}).status_code == 422
