"""The manifest: the one file whose atomic replacement commits a collection's new state.

It names the current generation, each vector space (model, dimension, backend, index kind and file),
the sparse index folder and the counts. Readers trust only what it names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import CollectionError
from ...files import write_json_atomically

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


def manifest_path(folder: Path) -> Path:
    return folder / MANIFEST_NAME


def new_manifest() -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "generation": 0, "spaces": {}, "sparse": None, "count": 0}


def read_manifest(folder: Path) -> dict[str, Any]:
    path = manifest_path(folder)
    if not path.is_file():
        if not folder.exists():
            raise CollectionError(f"no collection at {str(folder)!r}: the folder does not exist")
        raise CollectionError(f"{str(folder)!r} is not a densekit collection: it has no {MANIFEST_NAME}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CollectionError(f"cannot read {str(path)!r}: {error}") from error
    version = manifest.get("format")
    if version != FORMAT_VERSION:
        raise CollectionError(
            f"{str(path)!r} has format version {version!r}; this densekit reads version {FORMAT_VERSION}"
        )
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_json_atomically(manifest_path(folder), manifest)


def vector_keys(manifest: dict[str, Any]) -> set[str]:
    """The keys the manifest's spaces store their vectors under in the content store."""
    return {entry["index"]["vectors"] for entry in manifest["spaces"].values() if entry["index"].get("vectors")}


def readable_vector_keys(manifest: dict[str, Any]) -> set[str]:
    """The vector keys readers may still replay from: this manifest's and the one's before it (named
    ``previous_vectors``, as ``previous_files`` names its files), which readers may be opening yet."""
    return vector_keys(manifest) | set(manifest.get("previous_vectors", []))


def checkpoint_generations(manifest: dict[str, Any]) -> list[int]:
    """The generation of each space's checkpoint (spaces whose vectors live in the content store)."""
    return [int(entry["index"].get("generation", 0)) for entry in manifest["spaces"].values() if entry["index"].get("vectors")]


def sparse_built(manifest: dict[str, Any]) -> int | None:
    """The generation whose commit last built the sparse tables anew (dropped and indexed every text
    again, ``rebuild_sparse``); None when they were only ever written to. A reader that loaded them
    before that cannot catch up segment by segment: the segments it holds are gone."""
    return (manifest.get("sparse") or {}).get("built")


def segmented(manifest: dict[str, Any]) -> bool:
    """True when the collection's BM25 lives in the content store's sparse tables."""
    return (manifest.get("sparse") or {}).get("engine") == "segments"
