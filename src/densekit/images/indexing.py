"""Indexing image files into a collection's image space: discover, hash, decode, thumbnail, encode.

An image item's id is the file's resolved path and its hash the sha256 of the file's bytes. A file
whose bytes hash to what the collection already holds for that id is skipped without decoding; a
changed one is replaced. Files that cannot be read as images (corrupt, truncated, empty, not an
image, over the pixel limit, broken links, link loops, pipes) are reported per file and skipped,
never fatal. tests/images/test_image_fuzz.py holds this against mutated and hostile files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from ..collection.items import Item
from ..errors import InvalidInputError
from ..progress import ProgressCallback, report
from .loading import DEFAULT_MAX_PIXELS, SUFFIXES, ImageLoadError, decode_image, model_view, read_image_file
from .thumbnails import DEFAULT_SIZE, thumbnail_ok, write_thumbnail

if TYPE_CHECKING:
    from ..collection import Collection

DEFAULT_SPACE = "images"


@dataclass
class ImageIndexReport:
    """What an indexing run did, with every problem file and its reason."""

    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added_images": self.added,
            "replaced_images": self.replaced,
            "unchanged_images": self.unchanged,
            "problems": [{"path": path, "reason": reason} for path, reason in self.problems],
        }


def discover_images(
    paths: Iterable[str | Path], report: ImageIndexReport, exclude: Path | None = None
) -> list[Path]:
    """Image files to index: named files, and files with an image suffix under named folders (recursive, sorted).

    Args:
        paths: files and folders.
        report: missing paths, and paths with an image suffix that are broken links, link loops or
            pipes, are added to its problems with the reason.
        exclude: a folder to leave out (the collection's own folder, whose thumbnails are images too).
    """
    found: dict[Path, Path] = {}
    excluded = exclude.resolve() if exclude is not None else None

    def keep(path: Path) -> None:
        resolved = path.resolve()
        if excluded is not None and (resolved == excluded or excluded in resolved.parents):
            return
        found.setdefault(resolved, path)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            # rglob does not descend into linked folders, so a link to a parent folder cannot loop.
            for child in sorted(path.rglob("*")):
                if child.suffix.lower() not in SUFFIXES or child.is_dir():
                    continue  # a folder named like an image ("2021.jpg/") is walked, not read
                if child.is_file():
                    keep(child)
                else:
                    report.problems.append((str(child), _not_a_file(child)))
        elif path.is_file():
            # A file named explicitly is tried whatever its suffix: the decoder decides what it is.
            keep(path)
        else:
            report.problems.append((str(path), _not_a_file(path)))
    return list(found.values())


def _not_a_file(path: Path) -> str:
    """Why a path that is neither a folder nor a regular file cannot be indexed."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except FileNotFoundError:
            return "broken symbolic link (its target is missing)"
        except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError for a loop of links
            return "symbolic link loop"
    if path.exists():
        return "not a regular file (a pipe, socket or device)"
    return "no such file or folder"


def image_space(collection: "Collection", space: str | None = None) -> str:
    """The name of the collection's image space: ``space`` if given, else its only space of kind "image"."""
    images = [name for name, vector_space in collection.spaces.items() if vector_space.kind == "image"]
    if space is not None:
        if space not in collection.spaces:
            raise InvalidInputError(f"no space {space!r} in this collection; spaces: {', '.join(collection.spaces)}")
        if collection.spaces[space].kind != "image":
            raise InvalidInputError(
                f"space {space!r} holds {collection.spaces[space].kind} items, not images; image spaces: {', '.join(images) or 'none'}"
            )
        return space
    if not images:
        raise InvalidInputError(
            f"collection has no image space (spaces: {', '.join(collection.spaces)}); add one with "
            "collection.add_space('images', ClipEncoder(...))"
        )
    if len(images) > 1:
        raise InvalidInputError(f"collection has several image spaces ({', '.join(images)}); name one with space=")
    return images[0]


def index_images(
    collection: "Collection",
    paths: Iterable[str | Path],
    *,
    space: str | None = None,
    batch_size: int | None = None,
    thumbnail_size: int = DEFAULT_SIZE,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
) -> ImageIndexReport:
    """Index image files and folders into a collection's image space (staged; the caller commits).

    Args:
        collection: a collection opened for writing, with an image space (a CLIP encoder).
        paths: image files and folders (searched recursively for JPEG, PNG, WebP, GIF, BMP, TIFF).
        space: the image space (default: the collection's only image space).
        batch_size: images per model call (default: the encoder's, 32 for CLIP).
        thumbnail_size: longest side of the stored thumbnails.
        max_pixels: refuse images whose header declares more pixels (decompression bombs).
        progress: called as ``progress(files done, files found)``.

    Returns:
        Counts of added, replaced and unchanged images, and each skipped file with its reason.

    Example:
        >>> with Collection.create("photos.dk", encoder=ClipEncoder(), space="images") as photos:
        ...     index_images(photos, ["~/Pictures"]).as_dict()["added_images"]
        412
    """
    name = image_space(collection, space)
    encoder = collection.encoder(name)
    if "image" not in encoder.accepts:
        raise InvalidInputError(f"space {name!r} uses {type(encoder).__name__}, which cannot encode images")
    size = encoder.default_batch_size if batch_size is None else batch_size
    if size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {size}")
    result = ImageIndexReport()
    files = discover_images(paths, result, exclude=collection.local_folder)
    report(progress, 0, len(files))
    pending: list[tuple[Item, Any, bool]] = []
    for done, path in enumerate(files, start=1):
        prepared = _prepare(collection, encoder, path, result, thumbnail_size, max_pixels)
        if prepared is not None:
            pending.append(prepared)
        if len(pending) >= size:
            _store(collection, encoder, name, pending, result)
            pending = []
        report(progress, done, len(files))
    if pending:
        _store(collection, encoder, name, pending, result)
    return result


def _prepare(collection, encoder, path: Path, result: ImageIndexReport, thumbnail_size: int, max_pixels: int):
    """(item, pixel tensor, replaces an older item) for a new or changed file; None if unchanged or unreadable."""
    identifier = str(path.resolve())
    try:
        data = read_image_file(path)
        digest = hashlib.sha256(data).hexdigest()
        existing = collection.get(identifier)
        unchanged = existing is not None and existing.kind == "image" and existing.hash == digest
        # Stores without a local folder (a database) keep no thumbnails.
        folder = collection.local_folder
        if unchanged and (folder is None or thumbnail_ok(folder, existing.metadata.get("thumbnail"))):
            result.unchanged += 1
            return None
        loaded = decode_image(path, data, max_pixels=max_pixels)
        if unchanged:  # the item is fine; only its thumbnail was lost (deleted, or a crash): redraw it
            write_thumbnail(folder, loaded.sha256, loaded.image, thumbnail_size)
            result.unchanged += 1
            return None
    except ImageLoadError as error:
        result.problems.append((str(path), error.reason))
        return None
    del data
    metadata = dict(loaded.metadata)
    metadata["folder"] = str(Path(metadata["path"]).parent)
    metadata["thumbnail"] = None if folder is None else write_thumbnail(folder, loaded.sha256, loaded.image, thumbnail_size)
    # Keep model-sized pixels, drop the full picture; model_view bounds what a banner costs.
    pixels = encoder.preprocess([model_view(loaded.image)])
    item = Item(id=identifier, text=None, metadata=metadata, kind="image", hash=loaded.sha256)
    return item, pixels, existing is not None


def _store(collection, encoder, space: str, pending: list, result: ImageIndexReport) -> None:
    import torch

    items = [item for item, _, _ in pending]
    vectors = encoder.encode_pixels(torch.cat([pixels for _, pixels, _ in pending]))
    collection.add_items(items, vectors={space: vectors}, replace=True)
    replaced = sum(1 for _, _, replaces in pending if replaces)
    result.replaced += replaced
    result.added += len(pending) - replaced
