"""The character spans of ``\\w+|[^\\w\\s]`` tokens (words, and each other non-space character), found
with numpy over the text's code points instead of one regex match object per token: chunking a
document for the hashing encoder asks for every token's span (docs/storage.md has the measurement).

Each code point is classified once per process by the same regular expressions (``\\w``, ``\\s``), so
the spans are exactly ``[m.span() for m in re.finditer(r"\\w+|[^\\w\\s]", text)]``.
"""

from __future__ import annotations

import re
import threading

import numpy as np

_WORD, _SPACE = re.compile(r"\w"), re.compile(r"\s")
_OTHER, _WORD_CLASS, _SPACE_CLASS = 0, 1, 2
_classes: np.ndarray | None = None  # class of each code point, valid where _known
_known: np.ndarray | None = None
_lock = threading.Lock()


def _classify(codes: np.ndarray) -> np.ndarray:
    global _classes, _known
    with _lock:
        if _classes is None:
            _classes, _known = np.zeros(0x110000, dtype=np.int8), np.zeros(0x110000, dtype=bool)
        new = codes[~_known[codes]]
        if len(new):
            new = np.unique(new)
            _classes[new] = [_WORD_CLASS if _WORD.match(chr(code)) else _SPACE_CLASS if _SPACE.match(chr(code)) else _OTHER
                             for code in new.tolist()]
            _known[new] = True
        return _classes[codes]


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each run of word characters and each other non-space character, in order.

    Example:
        >>> word_spans("Hi, you!")
        [(0, 2), (2, 3), (4, 7), (7, 8)]
    """
    if not text:
        return []
    classes = _classify(np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))
    word, other = classes == _WORD_CLASS, classes == _OTHER
    changes = np.ones(len(classes) + 1, dtype=bool)  # a word run starts or ends at each change
    np.not_equal(word[1:], word[:-1], out=changes[1:-1])
    starts = np.flatnonzero((word & changes[:-1]) | other)
    ends = np.flatnonzero((word & changes[1:]) | other) + 1
    return list(zip(starts.tolist(), ends.tolist()))
