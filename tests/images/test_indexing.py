"""Indexing image folders into collections: metadata, thumbnails, skip-unchanged, problems, search, mixed spaces."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from PIL import Image

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.encoders.clip import ClipEncoder
from densekit.errors import InvalidInputError
from densekit.images import indexing
from densekit.images.indexing import image_space, index_images
from densekit.images.thumbnails import prune_thumbnails, thumbnail_path
from densekit.images.tiny import SAMPLE_CAPTIONS


def add_bad_files(folder):
    """Corrupt, truncated, zero-byte, non-image and decompression-bomb files beside the good ones."""
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "notes.png").write_text("not a picture")
    (folder / "readme.txt").write_text("ignored: not an image suffix")
    (folder / "noise.gif").write_bytes(bytes(range(256)) * 4)
    whole = (folder / "astronaut.jpg").read_bytes()
    (folder / "cats" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    bomb = Image.new("L", (4_000, 3_000))  # 12 Mpx; refused below with max_pixels=10 Mpx
    bomb.save(folder / "huge.png", optimize=True)
    return {"zero.jpg": "empty file", "notes.png": "not an image", "noise.gif": "not an image",
            "truncated.jpg": "truncated", "huge.png": "decompression bomb"}


def test_index_folder_metadata_thumbnails_and_problems(tmp_path, clip_encoder, photo_files):
    folder = photo_files["astronaut"].parent
    expected_problems = add_bad_files(folder)
    calls = []
    with Collection.create(tmp_path / "photos.dk", encoder=clip_encoder, space="images") as photos:
        report = index_images(photos, [folder], max_pixels=10_000_000, progress=lambda done, total: calls.append((done, total)))
        assert report.added == 6 and report.replaced == 0 and report.unchanged == 0
        reasons = {path.split("/")[-1]: reason for path, reason in report.problems}
        assert set(reasons) == set(expected_problems)
        for name, reason in expected_problems.items():
            assert reason in reasons[name], (name, reasons[name])
        assert calls[0] == (0, 11) and calls[-1] == (11, 11)

    reader = Collection.open(tmp_path / "photos.dk", readonly=True)
    assert reader.count() == 6 and check_collection(reader.folder) == []
    chelsea = photo_files["chelsea"]
    item = reader.get(str(chelsea.resolve()))
    assert item.kind == "image" and item.text is None
    assert item.hash == hashlib.sha256(chelsea.read_bytes()).hexdigest()
    meta = item.metadata
    assert meta["path"] == str(chelsea.resolve()) and meta["folder"] == str(chelsea.parent.resolve())
    assert (meta["width"], meta["height"], meta["format"]) == (451, 300, "WEBP")
    assert meta["bytes"] == chelsea.stat().st_size and meta["exif_date"] is None
    with Image.open(thumbnail_path(reader.folder, meta["thumbnail"])) as thumbnail:
        assert max(thumbnail.size) == 256 and thumbnail.format == "JPEG"
    assert reader.get(str(photo_files["horse"].resolve())).metadata["mode"] == "P"  # palette GIF converted
    reader.close()


def test_reindex_skips_unchanged_without_decoding_and_replaces_changed(tmp_path, clip_encoder, photo_files, monkeypatch):
    folder = photo_files["astronaut"].parent
    path = tmp_path / "photos.dk"
    with Collection.create(path, encoder=clip_encoder, space="images") as photos:
        index_images(photos, [folder])
        old_thumbnail = photos.get(str(photo_files["coffee"].resolve())).metadata["thumbnail"]

    def no_decoding(*args, **kwargs):
        raise AssertionError("an unchanged file was decoded")

    with monkeypatch.context() as patch:
        patch.setattr(indexing, "decode_image", no_decoding)
        with Collection.open(path) as photos:
            report = index_images(photos, [folder, photo_files["coffee"]])  # named twice: counted once
            assert (report.added, report.replaced, report.unchanged, report.problems) == (0, 0, 6, [])

    thumbnail_path(path, old_thumbnail).write_bytes(b"")  # lost in a crash: redrawn, the item kept
    with Collection.open(path) as photos:
        assert index_images(photos, [photo_files["coffee"]]).unchanged == 1
    assert thumbnail_path(path, old_thumbnail).stat().st_size > 1000

    Image.fromarray(np.asarray(Image.open(photo_files["coffee"]))[::-1]).save(photo_files["coffee"])  # flipped
    with Collection.open(path) as photos:
        report = index_images(photos, [folder])
        assert (report.added, report.replaced, report.unchanged) == (0, 1, 5)
        photos.commit()
        assert photos.count() == 6
        new = photos.get(str(photo_files["coffee"].resolve()))
        assert new.hash == hashlib.sha256(photo_files["coffee"].read_bytes()).hexdigest()
        assert new.metadata["thumbnail"] != old_thumbnail
        assert prune_thumbnails(photos) == 1
    assert not thumbnail_path(path, old_thumbnail).exists()
    assert check_collection(path) == []


def test_text_finds_its_picture_and_pictures_find_lookalikes(tmp_path, clip_encoder, photo_files):
    with Collection.create(tmp_path / "photos.dk", encoder=clip_encoder, space="images") as photos:
        index_images(photos, [photo_files["astronaut"].parent])
    reader = Collection.open(tmp_path / "photos.dk", readonly=True)
    for name, caption in SAMPLE_CAPTIONS.items():
        hits = reader.search(caption, k=3, space="images")
        assert hits[0].id == str(photo_files[name].resolve()) and hits[0].kind == "image", (caption, hits[0].id)
    # A smaller re-encoded copy outside the collection looks most like its original.
    copy = tmp_path / "small-rocket.jpg"
    with Image.open(photo_files["rocket"]) as original:
        original.resize((320, 213)).save(copy, quality=80)
    vector = reader.encoder("images").encode_images([copy])[0]
    assert reader.search_vector(vector, k=1, space="images")[0].id == str(photo_files["rocket"].resolve())
    # Filters on image metadata work as for text.
    hits = reader.search("a cup of coffee", k=6, space="images", where={"format": {"$in": ["GIF", "TIFF"]}})
    assert {hit.metadata["format"] for hit in hits} == {"GIF", "TIFF"} and len(hits) == 2
    hits = reader.search("a photo of a cat", k=6, space="images", where={"width": {"$gt": 500}})
    assert {hit.metadata["file"] for hit in hits} == {"astronaut.jpg", "coffee.png", "rocket.bmp", "camera.tiff"}
    reader.close()


def test_images_and_texts_coexist_in_one_collection(tmp_path, clip_encoder, hashing_encoder, photo_files):
    path = tmp_path / "mixed"
    with Collection.create(path, encoder=hashing_encoder) as mixed:
        mixed.add(["The cat sat on the mat.", "Rockets need fuel."], ids=["cat-note", "rocket-note"],
                  metadata=[{"topic": "cats"}, {"topic": "space"}])
        mixed.add_space("images", clip_encoder)
        report = index_images(mixed, [photo_files["astronaut"].parent])
        assert report.added == 6
    assert check_collection(path) == []

    # Reopened without encoders: the text space rebuilds its hashing encoder, the image space its
    # CLIP encoder through load_encoder(model, backend="clip"), from the manifest alone.
    reader = Collection.open(path, readonly=True)
    assert reader.info()["spaces"]["images"] == {
        "model": str(clip_encoder.model_name), "dimension": 32, "backend": "clip", "kind": "image", "index": "flat", "vectors": 6,
    }
    assert isinstance(reader.encoder("images"), ClipEncoder)
    assert reader.count() == 8
    text_hits = reader.search("cat mat", k=5)
    assert {hit.id for hit in text_hits} == {"cat-note", "rocket-note"} and all(hit.kind == "text" for hit in text_hits)
    assert [hit.id for hit in reader.search("rockets", k=5, mode="sparse")] == ["rocket-note"]
    image_hits = reader.search("a rocket on a launch pad", k=10, space="images")
    assert len(image_hits) == 6 and image_hits[0].metadata["file"] == "rocket.bmp"
    assert reader.search("a rocket", k=5, space="images", where={"topic": "space"}) == []
    assert [hit.id for hit in reader.search("fuel", k=5, where={"topic": "space"})] == ["rocket-note"]
    reader.close()

    reader = Collection.open(path, readonly=True, encoders={"images": clip_encoder})  # an already loaded encoder
    assert reader.encoder("images") is clip_encoder
    assert reader.search("a cup of coffee", k=1, space="images")[0].metadata["file"] == "coffee.png"
    reader.close()

    with Collection.open(path) as writer:  # deleting an image removes it from the image space
        writer.delete([str(photo_files["rocket"].resolve())])
    assert check_collection(path) == []
    reader = Collection.open(path, readonly=True)
    assert all(hit.metadata["file"] != "rocket.bmp" for hit in reader.search("a rocket", k=10, space="images"))
    reader.close()


def test_second_image_space_encodes_existing_items_from_their_files(tmp_path, clip_encoder, photo_files):
    with Collection.create(tmp_path / "c", encoder=clip_encoder, space="images") as photos:
        index_images(photos, [photo_files["astronaut"].parent])
        photos.add_space("again", clip_encoder)  # existing image items go through encode_items (file paths)
        with pytest.raises(InvalidInputError, match="several image spaces"):
            image_space(photos)
        assert image_space(photos, "again") == "again"
        query = clip_encoder.encode_images([photo_files["horse"]])[0]
        first = photos.search_vector(query, k=6, space="images")
        second = photos.search_vector(query, k=6, space="again")
        assert [hit.id for hit in first] == [hit.id for hit in second]
        np.testing.assert_allclose([hit.score for hit in first], [hit.score for hit in second], atol=1e-5)
        assert first[0].score == pytest.approx(1.0, abs=1e-5)


def test_image_space_errors_and_collection_folder_is_not_indexed(tmp_path, clip_encoder, hashing_encoder, photo_files):
    with Collection.create(tmp_path / "text-only", encoder=hashing_encoder) as texts:
        with pytest.raises(InvalidInputError, match="no image space"):
            index_images(texts, [photo_files["astronaut"]])
        with pytest.raises(InvalidInputError, match="holds text items"):
            image_space(texts, "text")
        with pytest.raises(InvalidInputError, match="no space 'nope'"):
            image_space(texts, "nope")
    folder = photo_files["astronaut"].parent
    inside = folder / "library.dk"  # a collection inside the folder it indexes: its thumbnails stay out
    with Collection.create(inside, encoder=clip_encoder, space="images") as photos:
        index_images(photos, [folder])
        report = index_images(photos, [folder, tmp_path / "missing"])
        assert report.unchanged == 6 and report.problems == [(str(tmp_path / "missing"), "no such file or folder")]
        assert photos.count() == 6
    shutil.rmtree(inside)
