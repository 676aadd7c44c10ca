"""BM25 keyword search (bm25s) keyed by the collection's int64 row ids: the sparse side of hybrid search.

bm25s indexes tens of thousands of passages in about a second, so ``build`` always rebuilds from
scratch instead of patching the index: deletes and upserts cannot leave stale statistics behind.

Chunks of one document can be scored as that document (``build(..., documents=parents)``): BM25
then sees whole documents, as it was designed to (a name in chunk 1 and a date in chunk 2 both
count; term frequencies and lengths are the document's), and each hit is the document's chunk that
matches the query best. On Quoref this is the difference between MRR@10 0.871 (chunks) and 0.881
(documents): docs/retrieval.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import CollectionError, InvalidInputError, MissingDependencyError

FORMAT_VERSION = 2
_READABLE_FORMATS = (1, 2)
_SETTINGS_FILE = "sparse.json"
_IDS_FILE = "ids.npy"
_DOCUMENTS_FILE = "documents.npy"
_BM25_FOLDER = "bm25"
_CHUNKS_FOLDER = "bm25-chunks"
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


@dataclass
class _Grouping:
    texts: list[str]  # one per document
    of_text: np.ndarray  # the document (index into texts) of each input text


def _group(texts: list[str], documents: Sequence[object], spans: Sequence[tuple[int, int] | None] | None) -> _Grouping:
    """Join each document's texts in order of their start offset, cutting what overlaps the previous text."""
    keys = list(documents)
    if len(keys) != len(texts):
        raise InvalidInputError(f"got {len(texts)} texts but {len(keys)} document keys; expected one per text")
    offsets = list(spans) if spans is not None else [None] * len(texts)
    if len(offsets) != len(texts):
        raise InvalidInputError(f"got {len(texts)} texts but {len(offsets)} spans; expected one per text")
    index_of: dict = {}
    of_text = np.zeros(len(texts), dtype=np.int64)
    members: list[list[int]] = []
    for position, key in enumerate(keys):
        slot = ("own text", position) if key is None else ("document", key)
        if slot not in index_of:
            index_of[slot] = len(members)
            members.append([])
        of_text[position] = index_of[slot]
        members[index_of[slot]].append(position)
    joined = [" ".join(document_pieces([texts[position] for position in positions], [offsets[position] for position in positions]))
              for positions in members]
    return _Grouping(joined, of_text)


def document_pieces(texts: list[str], spans: Sequence[tuple[int, int] | None]) -> list[str]:
    """One document's chunks in order of their start offset, each without what overlaps the ones
    before: joined with spaces they are the text ``build(..., documents=...)`` scores, and counting
    their words one by one gives the same counts without building that text."""
    pieces, covered = [], None
    for position in document_pieces_order(spans):
        text, span = texts[position], spans[position]
        if span is not None and covered is not None and span[0] < covered:
            text = text[min(len(text), covered - span[0]):]
        pieces.append(text)
        if span is not None:
            covered = span[1] if covered is None else max(covered, span[1])
    return pieces


def document_pieces_order(spans: Sequence[tuple[int, int] | None]) -> list[int]:
    """The order ``document_pieces`` takes a document's chunks in: by start offset, then position."""
    return sorted(range(len(spans)), key=lambda position: (_start(spans[position]), position))


def _start(span: tuple[int, int] | None) -> int:
    if span is None:
        return 0
    if len(span) != 2 or not all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in span):
        raise InvalidInputError(f"each span must be a (start, end) pair of integers, got {span!r}")
    return int(span[0])


class SparseIndex:
    """A BM25 index over texts, each under an int64 id.

    Args:
        stem: stem words with PyStemmer ("english"). False (default) never stems: measured on
            Quoref, Snowball stemming lost 0.005 MRR@10 (names and titles matter more there than
            word forms); True requires PyStemmer; None stems only when PyStemmer is installed.

    Example:
        >>> index = SparseIndex()
        >>> index.build(np.array([7, 9]), ["cats purr", "dogs bark"])
        >>> index.search("dogs", k=5)
        (array([0.2772589], dtype=float32), array([9]))
    """

    def __init__(self, stem: bool | None = False):
        if stem is True and not stemmer_available():
            raise MissingDependencyError("PyStemmer", "stemming in the sparse index")
        use_stemmer = stemmer_available() if stem is None else bool(stem)
        self.stemmer_language: str | None = "english" if use_stemmer else None
        self._stemmer = _make_stemmer(self.stemmer_language)
        self._ids = np.zeros(0, dtype=np.int64)
        self._retriever = None  # None while no document has a single searchable word
        # Set only when texts were grouped into documents: the document of each text, and a
        # chunk-level index that picks each hit document's best-matching chunk.
        self._documents: np.ndarray | None = None
        self._first_ids: np.ndarray | None = None
        self._chunks = None

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

    def build(
        self,
        ids: Sequence[int] | np.ndarray,
        texts: Sequence[str],
        documents: Sequence[object] | None = None,
        spans: Sequence[tuple[int, int] | None] | None = None,
    ) -> None:
        """Replace the whole index with these texts.

        Args:
            ids: unique int64 ids, one per text.
            texts: the texts; an empty text is allowed and simply never matches.
            documents: optional, one document key per text (e.g. the chunk's parent id; None = the
                text is a document of its own). BM25 then scores documents, each made of its texts
                in order, and a hit is the document's best-matching text.
            spans: optional, each text's (start, end) characters in its document: text that
                overlaps the previous chunk is counted once.

        Example:
            >>> index.build(np.arange(3), ["a red fox", "a lazy dog", ""])
            >>> index.build(np.arange(3), ["red fox and", "and lazy dog", "cat"], documents=["d", "d", None],
            ...             spans=[(0, 11), (8, 20), None])
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

        grouping = _group(items, documents, spans) if documents is not None else None
        if grouping is not None and len(grouping.texts) == len(items):
            grouping = None  # every text is its own document: one chunk-level index says it all
        self._ids = id_array
        self._retriever = self._index(grouping.texts if grouping is not None else items)
        self._set_documents(grouping.of_text if grouping is not None else None)
        self._chunks = self._index(items) if grouping is not None else None

    def _set_documents(self, documents: np.ndarray | None) -> None:
        self._documents = documents
        if documents is None or not len(documents):
            self._first_ids = None
            return
        # Equal document scores are ordered by each document's smallest id, as texts are by theirs.
        self._first_ids = np.full(int(documents.max()) + 1, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(self._first_ids, documents, self._ids)

    def _index(self, texts: list[str]):
        tokens = self._tokenize(texts) if texts else []
        if not any(tokens):
            return None
        import bm25s

        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return retriever

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
            returned. Ties are broken by the smaller id. When texts were grouped into documents
            (``build(documents=...)``), each hit is one document: its BM25 score over the whole
            document and the id of its best-matching (allowed) text.

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
        query_tokens = self._tokenize([query])[0]
        token_ids = self._retriever.get_tokens_ids(query_tokens)
        if not token_ids:
            return empty
        allowed_texts = None
        if allowed is not None:
            allowed_ids = np.asarray(allowed)
            if allowed_ids.size == 0:
                return empty
            if allowed_ids.ndim != 1 or not np.issubdtype(allowed_ids.dtype, np.integer):
                raise InvalidInputError(
                    f"allowed must be a 1-D array of integer ids, got dtype {allowed_ids.dtype}"
                )
            allowed_texts = np.isin(self._ids, allowed_ids)
        if self._documents is None:
            return self._search_texts(token_ids, k, allowed_texts)
        return self._search_documents(query_tokens, token_ids, k, allowed_texts)

    def _search_texts(self, token_ids, k: int, allowed_texts: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        # bm25s multiplies every score by this mask, so masked texts score exactly zero.
        mask = None if allowed_texts is None else allowed_texts.astype(np.float32)
        scores = np.asarray(self._retriever.get_scores_from_ids(token_ids, weight_mask=mask), dtype=np.float32)
        hits = np.flatnonzero(scores > 0)
        # Sort by score descending, then id ascending, so equal scores come back in a stable order.
        order = np.lexsort((self._ids[hits], -scores[hits]))[: int(k)]
        chosen = hits[order]
        return scores[chosen], self._ids[chosen].copy()

    def _search_documents(self, query_tokens, token_ids, k: int, allowed_texts: np.ndarray | None):
        documents = self._documents
        count = int(documents.max()) + 1
        mask = None
        if allowed_texts is not None:
            # A document may be returned when one of its texts may; its best allowed text stands for it.
            mask = np.zeros(count, dtype=np.float32)
            mask[documents[allowed_texts]] = 1.0
        scores = np.asarray(self._retriever.get_scores_from_ids(token_ids, weight_mask=mask), dtype=np.float32)
        hits = np.flatnonzero(scores > 0)
        order = np.lexsort((self._first_ids[hits], -scores[hits]))[: int(k)]
        chosen = hits[order]
        # Each hit document is shown by its text with the best chunk-level BM25 (ties: the earliest).
        text_scores = np.zeros(len(self._ids), dtype=np.float32)
        chunk_token_ids = self._chunks.get_tokens_ids(query_tokens) if self._chunks is not None else []
        if chunk_token_ids:
            text_scores = np.asarray(self._chunks.get_scores_from_ids(chunk_token_ids), dtype=np.float32)
        if allowed_texts is not None:
            text_scores = np.where(allowed_texts, text_scores, -1.0)
        members = {int(document): [] for document in chosen}
        for position in np.flatnonzero(np.isin(documents, chosen)):
            members[int(documents[position])].append(position)
        best = [max(members[int(document)], key=lambda position: (text_scores[position], -position))
                for document in chosen]
        return scores[chosen], self._ids[np.asarray(best, dtype=np.int64)].copy() if best else np.zeros(0, dtype=np.int64)

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
        if self._documents is not None:
            np.save(path / _DOCUMENTS_FILE, self._documents, allow_pickle=False)
            if self._chunks is not None:
                self._chunks.save(str(path / _CHUNKS_FOLDER), show_progress=False)
        settings = {
            "format": FORMAT_VERSION,
            "count": len(self),
            "stemmer": self.stemmer_language,
            "stopwords": _STOPWORDS,
            "searchable": self._retriever is not None,
            "documents": None if self._documents is None else int(self._documents.max()) + 1,
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
        if settings.get("format") not in _READABLE_FORMATS:
            raise CollectionError(
                f"sparse index {path} has format {settings.get('format')!r}; this densekit reads formats "
                f"{', '.join(map(str, _READABLE_FORMATS))}"
            )
        index = cls(stem=False)
        index.stemmer_language = settings.get("stemmer")
        index._stemmer = _make_stemmer(index.stemmer_language)
        index._ids = np.load(path / _IDS_FILE, allow_pickle=False).astype(np.int64)
        if len(index._ids) != settings.get("count"):
            raise CollectionError(
                f"sparse index {path} holds {len(index._ids)} ids but its settings say {settings.get('count')}"
            )
        documents = settings.get("documents")  # format 1 has none: every text is its own document
        if documents is not None:
            index._set_documents(np.load(path / _DOCUMENTS_FILE, allow_pickle=False).astype(np.int64))
            if len(index._documents) != len(index._ids):
                raise CollectionError(f"sparse index {path}: {len(index._documents)} document keys for {len(index._ids)} ids")
        if settings.get("searchable"):
            import bm25s

            index._retriever = bm25s.BM25.load(str(path / _BM25_FOLDER), show_progress=False, verbosity=0)
            expected = len(index._ids) if documents is None else documents
            if index._retriever.scores["num_docs"] != expected:
                raise CollectionError(
                    f"sparse index {path}: BM25 has {index._retriever.scores['num_docs']} documents "
                    f"but {expected} were indexed"
                )
            if documents is not None:
                index._chunks = bm25s.BM25.load(str(path / _CHUNKS_FOLDER), show_progress=False, verbosity=0)
        return index
