"""A streamed training corpus: text files, folders and Wikipedia XML dumps, read one sentence at a time.

Word2vec makes several passes over its corpus; a corpus that is re-read from disk on each pass
keeps memory flat however large the input. Tokenisation is deliberately simple (lower-cased runs
of letters and digits) so that the same function serves training, queries and sentence encoding.
"""

from __future__ import annotations

import bz2
import gzip
import os
import re
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ...errors import InvalidInputError

_TOKEN = re.compile(r"[^\W_]+")
# A sentence ends at . ! or ? followed by space and an upper-case letter or quote: good enough for
# news and encyclopaedia text, and a missed split only joins two windows.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'‘“(])")
# Files a folder walk picks up; a file named explicitly is read whatever its suffix.
TEXT_SUFFIXES = (".txt", ".text", ".md", ".rst", ".cor", ".txt.gz", ".txt.bz2")
WIKI_SUFFIXES = (".xml.bz2", ".xml")
# gensim copies sentences longer than this into several jobs; splitting ourselves keeps windows intact.
MAX_SENTENCE_TOKENS = 10_000


def tokenize(text: str) -> list[str]:
    """Split text into lower-case word tokens (runs of letters and digits).

    Example:
        >>> tokenize("The Queen's speech, 2004!")
        ['the', 'queen', 's', 'speech', '2004']
    """
    return _TOKEN.findall(text.lower())


def split_sentences(text: str) -> Iterator[str]:
    """Yield the sentences of a text: each non-empty line, split again at sentence ends."""
    for line in text.splitlines():
        if line.strip():
            yield from _SENTENCE_END.split(line)


def _is_wiki_dump(path: Path) -> bool:
    """True for a MediaWiki XML export (plain, .bz2 or .gz), whatever the file is named."""
    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    try:
        with opener(path, "rb") as handle:
            head = handle.read(1024)
    except OSError:  # not really compressed: read it as text and let that fail or succeed
        return False
    return b"<mediawiki" in head


def _walked(path: Path) -> bool:
    name = path.name.lower()
    return not name.startswith(".") and (name.endswith(TEXT_SUFFIXES + WIKI_SUFFIXES) or "pages-articles" in name)


def _open_text(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _wiki_texts(path: Path) -> Iterator[str]:
    """Yield the plain text of each article in a MediaWiki XML dump, without markup or redirects."""
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    opener = {".bz2": bz2.open, ".gz": gzip.open}.get(path.suffix.lower(), open)
    with opener(path, "rb") as stream:
        for _title, markup, _page_id in extract_pages(stream):
            if not markup or markup.lstrip()[:9].upper() == "#REDIRECT":
                continue
            yield filter_wiki(markup)


def find_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into the sorted list of files to read.

    Raises InvalidInputError naming a path that does not exist or a folder with no text files.
    """
    if not paths:
        raise InvalidInputError("no corpus given; expected one or more text files or folders")
    files: list[Path] = []
    for entry in paths:
        path = Path(entry).expanduser()
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.is_file() and _walked(candidate)
            )
            if not found:
                raise InvalidInputError(
                    f"folder {str(path)!r} holds no text files; expected files ending in "
                    f"{', '.join(TEXT_SUFFIXES + WIKI_SUFFIXES)}"
                )
            files.extend(found)
        else:
            raise InvalidInputError(f"corpus path {str(path)!r} does not exist; expected a text file or folder")
    return files


class SentenceStream:
    """Re-iterable sentences (lists of tokens) read from files on each pass, never held in memory.

    Args:
        paths: text files, folders (walked recursively) or MediaWiki ``*.xml.bz2`` dumps.
        transform: applied to each token list, e.g. a frozen gensim phrase model.
        on_words: called with the number of tokens in each sentence as it is yielded, so a caller
            can count progress through a pass.

    Example:
        >>> for sentence in SentenceStream(["bbc/"]):
        ...     print(sentence[:5])
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        transform: Callable[[list[str]], list[str]] | None = None,
        on_words: Callable[[int], None] | None = None,
    ):
        self.files = find_files(paths)
        self.transform = transform
        self.on_words = on_words

    def texts(self) -> Iterator[str]:
        """Yield documents: whole text files, or single articles of a wiki dump."""
        for path in self.files:
            if path.name.lower().endswith((".xml", ".bz2", ".gz")) and _is_wiki_dump(path):
                yield from _wiki_texts(path)
            else:
                with _open_text(path) as handle:
                    yield handle.read()

    def __iter__(self) -> Iterator[list[str]]:
        for text in self.texts():
            for sentence in split_sentences(text):
                tokens = tokenize(sentence)
                if not tokens:
                    continue
                if self.transform is not None:
                    tokens = self.transform(tokens)
                for start in range(0, len(tokens), MAX_SENTENCE_TOKENS):
                    piece = tokens[start : start + MAX_SENTENCE_TOKENS]
                    if self.on_words is not None:
                        self.on_words(len(piece))
                    yield piece
