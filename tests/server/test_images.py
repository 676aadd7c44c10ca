"""Image search by text and by upload, and thumbnails, over a tiny CLIP built at test time."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds and loads a (tiny) CLIP


@pytest.fixture
def photo_client(make_client, photos_root):
    return make_client(collections={}, root=photos_root)


def test_text_query_returns_images_with_thumbnails(photo_client):
    response = photo_client.post("/collections/photos/images/search", data={"query": "a red square", "k": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["by"] == "text" and body["space"] == "images" and len(body["hits"]) == 3
    for hit in body["hits"]:
        assert hit["kind"] == "image" and hit["thumbnail"].startswith("/collections/photos/thumbnails/")
        picture = photo_client.get(hit["thumbnail"])
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
        assert picture.content[:2] == b"\xff\xd8"


def test_uploaded_image_finds_itself_first(photo_client, tmp_path):
    picture = Path(tmp_path / "pictures" / "green.png").read_bytes()
    response = photo_client.post("/collections/photos/images/search",
                                 files={"image": ("anything.png", picture, "image/png")}, data={"k": "2"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert hits[0]["metadata"]["file"] == "green.png" and hits[0]["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    "data, files, words",
    [
        ({}, None, "exactly one of"),
        ({"query": "x"}, {"image": ("a.png", b"\x89PNG", "image/png")}, "exactly one of"),
        ({"k": "0", "query": "x"}, None, "k is 0"),
        (None, {"image": ("a.png", b"not an image at all", "image/png")}, "cannot be used"),
    ],
)
def test_refusals(photo_client, data, files, words):
    response = photo_client.post("/collections/photos/images/search", data=data, files=files)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


def test_a_text_collection_has_no_image_space(client):
    response = client.post("/collections/pets/images/search", data={"query": "x"})
    assert response.status_code == 422 and "no image space" in response.json()["error"]["message"]


@pytest.mark.parametrize("file", ["../manifest.json", "x.jpg", "..%2Fmanifest.json", "A" * 64 + ".jpg"])
def test_thumbnail_names_are_checked(photo_client, file):
    response = photo_client.get(f"/collections/photos/thumbnails/{file}")
    assert response.status_code in (404, 422)
    assert b"generation" not in response.content


def test_a_large_upload_is_413(make_client, photos_root):
    from densekit.server import Limits

    client = make_client(collections={}, root=photos_root, limits=Limits(max_body_bytes=10_000))
    buffer = io.BytesIO(bytes(50_000))
    response = client.post("/collections/photos/images/search", files={"image": ("big.png", buffer, "image/png")})
    assert response.status_code == 413
