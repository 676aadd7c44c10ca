"""Search-result snippets: the part of a hit's text around the query's words, cut at word boundaries,
with where those words are (for the CLI's bold and the page's <mark>)."""

from __future__ import annotations

import re

#: Characters of text a snippet shows (about two lines).
SNIPPET_CHARACTERS = 240
_WORD = re.compile(r"\w+", re.UNICODE)
_SKIPPED = frozenset(
    "a an and are as at be by for from has have how in is it its of on or that the to was were what when where which who why will with".split()
)


def query_words(query: str) -> set[str]:
    """The lower-cased words of a query that are worth highlighting (no stop words, no single letters)."""
    return {word for word in (match.group().lower() for match in _WORD.finditer(query or "")) if len(word) > 1 and word not in _SKIPPED}


def make_snippet(text: str | None, query: str | None = None, width: int = SNIPPET_CHARACTERS) -> tuple[str, list[list[int]]]:
    """(snippet, highlights): about ``width`` characters of ``text`` around the densest run of query
    words, starting and ending at word boundaries (an ellipsis marks a cut), and the [start, end)
    character spans of the query's words inside the snippet.

    Example:
        >>> make_snippet("Since 1990 the central bank raised interest rates twice.", "interest rates", width=30)
        ('…raised interest rates twice.', [[8, 16], [17, 22]])
    """
    if not text:
        return "", []
    flat = " ".join(text.split())
    wanted = query_words(query) if query else set()
    if not wanted and len(flat) <= width:  # nothing to find or cut (a search by vector): the text itself
        return flat, []
    matches = [match for match in _WORD.finditer(flat) if match.group().lower() in wanted] if wanted else []
    start = 0
    if matches and len(flat) > width:
        # The window holding the most matches, started a little before its first one.
        best, best_count = matches[0].start(), 0
        for first in matches:
            count = sum(1 for match in matches if first.start() <= match.start() < first.start() + width)
            if count > best_count:
                best, best_count = first.start(), count
        start = max(0, best - width // 4)
    end = min(len(flat), start + width)
    if start > 0:  # move forward to the next word start
        boundary = re.search(r"\s\S", flat[start - 1:end])
        start = start - 1 + boundary.start() + 1 if boundary else start
    if end < len(flat):  # move back to the last word end
        cut = flat.rfind(" ", start, end)
        end = cut if cut > start else end
    prefix = "…" if start > 0 else ""
    snippet = prefix + flat[start:end].strip() + ("…" if end < len(flat) else "")
    offset = len(prefix) - start
    highlights = [[match.start() + offset, match.end() + offset] for match in matches if start <= match.start() and match.end() <= end]
    return snippet, highlights


def title_from_text(text: str, limit: int = 120) -> str | None:
    """A title for a plain document: its first non-empty line (Markdown heading marks dropped), cut
    at a word boundary."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            if len(line) <= limit:
                return line
            cut = line.rfind(" ", 0, limit)
            return line[: cut if cut > 0 else limit] + "…"
    return None
