"""Thumbnails: named by content hash inside the collection, written atomically, idempotent, pruned when orphaned."""

from __future__ import annotations

import hashlib

import pytest
from PIL import Image

from densekit.collection import Collection, Item
from densekit.errors import CollectionError, InvalidInputError
from densekit.images.thumbnails import prune_thumbnails, thumbnail_path, write_thumbnail

SHA = hashlib.sha256(b"picture").hexdigest()


def test_thumbnail_is_small_named_by_hash_and_idempotent(tmp_path):
    picture = Image.new("RGB", (1000, 500), (200, 10, 10))
    name = write_thumbnail(tmp_path, SHA, picture, size=128)
    assert name == f"{SHA}.jpg"
    path = thumbnail_path(tmp_path, name)
    with Image.open(path) as stored:
        assert stored.format == "JPEG" and stored.size == (128, 64)
    stamp = path.stat().st_mtime_ns
    assert write_thumbnail(tmp_path, SHA, Image.new("RGB", (10, 10)), size=128) == name
    assert path.stat().st_mtime_ns == stamp  # same content hash: kept, not rewritten
    assert [entry.name for entry in path.parent.iterdir()] == [name]  # no temporary files left
    assert picture.size == (1000, 500)  # the caller's picture is not shrunk in place


def test_small_pictures_keep_their_size_and_bad_arguments_raise(tmp_path):
    name = write_thumbnail(tmp_path, SHA, Image.new("RGB", (20, 10)))
    with Image.open(thumbnail_path(tmp_path, name)) as stored:
        assert stored.size == (20, 10)
    with pytest.raises(InvalidInputError, match="sha256"):
        write_thumbnail(tmp_path, "../../etc/passwd", Image.new("RGB", (4, 4)))
    with pytest.raises(InvalidInputError, match="thumbnail size"):
        write_thumbnail(tmp_path, SHA, Image.new("RGB", (4, 4)), size=2)


def test_prune_removes_only_unreferenced_thumbnails(tmp_path, hashing_encoder):
    keep = hashlib.sha256(b"keep").hexdigest()
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        folder = collection.folder
        kept = write_thumbnail(folder, keep, Image.new("RGB", (8, 8)))
        orphan = write_thumbnail(folder, SHA, Image.new("RGB", (8, 8)))
        (folder / "thumbnails" / "notes.txt").write_text("a user's file")
        (folder / "thumbnails" / f".{orphan}.1234.tmp").write_bytes(b"half")
        item = Item("photo", None, {"thumbnail": kept, "path": "/x.jpg"}, kind="image", hash=keep)
        collection.store.insert([item], collection.view)
        assert prune_thumbnails(collection) == 2
    assert sorted(entry.name for entry in (folder / "thumbnails").iterdir()) == sorted([kept, "notes.txt"])
    reader = Collection.open(tmp_path / "c", readonly=True)
    with pytest.raises(CollectionError, match="read-only"):
        prune_thumbnails(reader)
    reader.close()
