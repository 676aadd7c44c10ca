"""BM25 keyword search (bm25s) keyed by the collection's int64 row ids: the sparse side of hybrid search.

bm25s indexes tens of thousands of passages in about a second, so ``build`` always rebuilds from
scratch instead of patching the index: deletes and upserts cannot leave stale statistics behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import CollectionError, InvalidInputError, MissingDependencyError

FORMAT_VERSION = 1
_SETTINGS_FILE = "sparse.json"
_IDS_FILE = "ids.npy"
_BM25_FOLDER = "bm25"
# bm25s' English list (33 words, the Lucene one): short enough that "not" or "no" still count.
_STOPWORDS = "en"


def stemmer_available() -> bool:
    """True when PyStemmer is installed; only then are words stemmed ("running" matches "runs")."""
    try:
        import Stemmer  # noqa: F401
    except ImportError:
        return False
    return True


def _make_stemmer(language: str | None):
    if language is None:
        return None
    try:
        import Stemmer
    except ImportError as error:
        raise MissingDependencyError("PyStemmer", "this sparse index was built with stemming and") from error
    return Stemmer.Stemmer(language)


class SparseIndex:
    """A BM25 index over texts, each under an int64 id.

    Args:
        stem: stem words with PyStemmer ("english"). None (default) stems only when PyStemmer is
            installed; True requires it; False never stems.

    Example:
        >>> index = SparseIndex()
        >>> index.build(np.array([7, 9]), ["cats purr", "dogs bark"])
        >>> index.search("dogs", k=5)
        (array([0.2772589], dtype=float32), array([9]))
    """

    def __init__(self, stem: bool | None = None):
        if stem is True and not stemmer_available():
            raise MissingDependencyError("PyStemmer", "stemming in the sparse index")
        use_stemmer = stemmer_available() if stem is None else bool(stem)
        self.stemmer_language: str | None = "english" if use_stemmer else None
        self._stemmer = _make_stemmer(self.stemmer_language)
        self._ids = np.zeros(0, dtype=np.int64)
        self._retriever = None  # None while no document has a single searchable word

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    def ids(self) -> np.ndarray:
        """All indexed ids (int64) in index order."""
        return self._ids.copy()

    def _tokenize(self, texts: list[str]) -> list[list[str]]:
        import bm25s

        return bm25s.tokenize(
            texts,
            stopwords=_STOPWORDS,
            stemmer=self._stemmer,
            return_ids=False,
            show_progress=False,
        )

    def build(self, ids: Sequence[int] | np.ndarray, texts: Sequence[str]) -> None:
        """Replace the whole index with these documents.

        Args:
            ids: unique int64 ids, one per text.
            texts: the documents; an empty text is allowed and simply never matches.

        Example:
            >>> index.build(np.arange(3), ["a red fox", "a lazy dog", ""])
        """
        id_array = np.asarray(ids)
        if id_array.ndim != 1 or (id_array.size and not np.issubdtype(id_array.dtype, np.integer)):
            raise InvalidInputError(
                f"ids must be a 1-D array of integers, got dtype {id_array.dtype}, shape {id_array.shape}"
            )
        id_array = id_array.astype(np.int64)
        items = list(texts)
        if len(items) != len(id_array):
            raise InvalidInputError(f"got {len(id_array)} ids but {len(items)} texts; expected one id per text")
        for position, text in enumerate(items):
            if not isinstance(text, str):
                raise InvalidInputError(f"text {position} is {type(text).__name__}; expected a string")
        unique, counts = np.unique(id_array, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(f"ids must be unique; repeated: {unique[counts > 1][:10].tolist()}")

        tokens = self._tokenize(items) if items else []
        retriever = None
        if any(tokens):
            import bm25s

            retriever = bm25s.BM25()
            retriever.index(tokens, show_progress=False)
        self._ids = id_array
        self._retriever = retriever

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best documents for a query by BM25 score, best first.

        Args:
            query: free text; a query made only of stop words (or of words no document has)
                finds nothing.
            k: most hits to return.
            allowed: optional int64 ids; only these may be returned, and k hits come back whenever
                k allowed documents share a word with the query.
        Returns:
            (scores float32, ids int64), each of length <= k; documents scoring zero are never
            returned. Ties are broken by the smaller id.

        Example:
            >>> scores, ids = index.search("lazy dog", k=2, allowed=np.array([1]))
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError(f"query must be a non-empty string, got {query!r}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        empty = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        if self._retriever is None:
            return empty
        token_ids = self._retriever.get_tokens_ids(self._tokenize([query])[0])
        if not token_ids:
            return empty
        mask = None
        if allowed is not None:
            allowed_ids = np.asarray(allowed)
            if allowed_ids.size == 0:
                return empty
            if allowed_ids.ndim != 1 or not np.issubdtype(allowed_ids.dtype, np.integer):
                raise InvalidInputError(
                    f"allowed must be a 1-D array of integer ids, got dtype {allowed_ids.dtype}"
                )
            # bm25s multiplies every score by this mask, so masked documents score exactly zero.
            mask = np.isin(self._ids, allowed_ids).astype(np.float32)
        scores = np.asarray(self._retriever.get_scores_from_ids(token_ids, weight_mask=mask), dtype=np.float32)
        hits = np.flatnonzero(scores > 0)
        # Sort by score descending, then id ascending, so equal scores come back in a stable order.
        order = np.lexsort((self._ids[hits], -scores[hits]))[: int(k)]
        chosen = hits[order]
        return scores[chosen], self._ids[chosen].copy()

    def save(self, folder: str | Path) -> None:
        """Write the index into ``folder`` (created if needed). The caller swaps folders atomically.

        Example:
            >>> index.save(Path("collection/sparse.new"))
        """
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        np.save(path / _IDS_FILE, self._ids, allow_pickle=False)
        if self._retriever is not None:
            self._retriever.save(str(path / _BM25_FOLDER), show_progress=False)
        settings = {
            "format": FORMAT_VERSION,
            "count": len(self),
            "stemmer": self.stemmer_language,
            "stopwords": _STOPWORDS,
            "searchable": self._retriever is not None,
        }
        # Written last: a folder without it is an incomplete save.
        (path / _SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> "SparseIndex":
        """Read an index written by ``save``.

        Example:
            >>> index = SparseIndex.load(Path("collection/sparse"))
        """
        path = Path(folder)
        settings_path = path / _SETTINGS_FILE
        if not settings_path.is_file():
            raise CollectionError(f"no sparse index in {path}: {_SETTINGS_FILE} is missing")
        try:
            settings = json.loads(settings_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise CollectionError(f"sparse index settings {settings_path} are not valid JSON: {error}") from error
        if settings.get("format") != FORMAT_VERSION:
            raise CollectionError(
                f"sparse index {path} has format {settings.get('format')!r}; this densekit reads format {FORMAT_VERSION}"
            )
        index = cls(stem=False)
        index.stemmer_language = settings.get("stemmer")
        index._stemmer = _make_stemmer(index.stemmer_language)
        index._ids = np.load(path / _IDS_FILE, allow_pickle=False).astype(np.int64)
        if len(index._ids) != settings.get("count"):
            raise CollectionError(
                f"sparse index {path} holds {len(index._ids)} ids but its settings say {settings.get('count')}"
            )
        if settings.get("searchable"):
            import bm25s

            index._retriever = bm25s.BM25.load(str(path / _BM25_FOLDER), show_progress=False, verbosity=0)
            if index._retriever.scores["num_docs"] != len(index._ids):
                raise CollectionError(
                    f"sparse index {path}: BM25 has {index._retriever.scores['num_docs']} documents "
                    f"but {len(index._ids)} ids"
                )
        return index
