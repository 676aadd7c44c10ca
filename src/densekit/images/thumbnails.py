"""Thumbnails kept inside a collection folder, named by the content hash of the original file.

``thumbnails/<sha256>.jpg``: the same picture content always maps to the same file, so writing is
idempotent (an existing thumbnail is kept), copies of one photo share one thumbnail, and a changed
photo gets a new one. Files are written beside their final name and renamed into place, so no
reader sees a half-written thumbnail; a missing or empty one is rewritten by the next indexing run. Thumbnails no item refers to any more are
removed by ``prune_thumbnails``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CollectionError, InvalidInputError
from ..files import temporary_sibling

if TYPE_CHECKING:
    from ..collection import Collection

FOLDER = "thumbnails"
DEFAULT_SIZE = 256
QUALITY = 85
_NAME = re.compile(r"^[0-9a-f]{64}\.jpg$")


def thumbnail_name(sha256: str) -> str:
    """The thumbnail file name for a content hash (relative to the thumbnails folder)."""
    if not re.fullmatch(r"[0-9a-f]{64}", sha256 or ""):
        raise InvalidInputError(f"expected a 64-character lowercase hex sha256, got {sha256!r}")
    return f"{sha256}.jpg"


def thumbnail_path(collection_folder: str | Path, name: str) -> Path:
    """Where a stored thumbnail name lives in a collection folder."""
    return Path(collection_folder) / FOLDER / name


def write_thumbnail(collection_folder: str | Path, sha256: str, image: Any, size: int = DEFAULT_SIZE) -> str:
    """Store a JPEG thumbnail (longest side ``size``) of an RGB picture, once per content hash.

    Args:
        collection_folder: the collection's folder; thumbnails go in its ``thumbnails/``.
        sha256: content hash of the original file (names the thumbnail).
        image: a PIL image in RGB (as ``load_image`` returns).
        size: longest side in pixels; smaller pictures are kept at their size.

    Returns:
        The thumbnail's name (``<sha256>.jpg``), to store in the item's metadata.

    Example:
        >>> write_thumbnail("photos.dk", loaded.sha256, loaded.image)
        '3f1c...e9.jpg'
    """
    if not isinstance(size, int) or size < 16:
        raise InvalidInputError(f"thumbnail size must be an integer >= 16 pixels, got {size!r}")
    name = thumbnail_name(sha256)
    target = thumbnail_path(collection_folder, name)
    if thumbnail_ok(collection_folder, name):
        return name  # same content, same thumbnail: nothing to do
    target.parent.mkdir(parents=True, exist_ok=True)
    small = _shrunk(image, size)
    if small.mode != "RGB":
        small = small.convert("RGB")

    # Written beside its name and renamed into place (readers never see half a file), but not
    # fsynced: a thumbnail is derived data, and on the busy 2-core machine the fsync cost more than
    # making it (about 24 of 38 ms per image). Indexing rewrites any thumbnail missing or empty.
    temporary = temporary_sibling(target)
    try:
        small.save(temporary, format="JPEG", quality=QUALITY)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return name


def _shrunk(image: Any, size: int) -> Any:
    """The picture scaled to fit size x size (never enlarged), as Image.thumbnail would draw it.

    Resized straight from the picture: thumbnail() works in place, so it needs a full-size copy
    first (hundreds of MB for a 100-megapixel picture).
    """
    from PIL import Image

    width, height = image.size
    if max(width, height) <= size:
        return image
    scale = size / max(width, height)
    fitted = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(fitted, Image.Resampling.BICUBIC, reducing_gap=2.0)


def thumbnail_ok(collection_folder: str | Path, name: str | None) -> bool:
    """True when the named thumbnail exists and is not empty."""
    if not name or not _NAME.match(name):
        return False
    try:
        return thumbnail_path(collection_folder, name).stat().st_size > 0
    except OSError:
        return False


def prune_thumbnails(collection: "Collection") -> int:
    """Remove thumbnails that no item refers to, in the committed or the staged view. Returns files removed.

    Example:
        >>> prune_thumbnails(collection)
        2
    """
    if collection.readonly:
        raise CollectionError(f"collection {collection.location!r} was opened read-only; open it for writing to prune")
    if collection.local_folder is None:
        return 0
    folder = collection.local_folder / FOLDER
    if not folder.is_dir():
        return 0
    # What this writer sees, and what readers of the last commit see (its staged deletes are not theirs).
    referenced = _thumbnails_of(collection)
    with type(collection).open(collection.location, readonly=True) as committed:
        referenced |= _thumbnails_of(committed)
    removed = 0
    for path in folder.iterdir():
        # Leftover temporary files (a crash mid-write) go too; foreign files are left alone.
        is_temporary = path.name.startswith(".") and path.name.endswith(".tmp")
        if (is_temporary or _NAME.match(path.name)) and path.name not in referenced:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _thumbnails_of(collection: "Collection") -> set[str]:
    return {
        item.metadata.get("thumbnail")
        for items, _ in collection.export(include_vectors=False)
        for item in items
        if item.kind == "image"
    }
