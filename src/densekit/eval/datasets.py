"""Evaluation data loaders: a corpus, queries with relevant ids, and STS sentence pairs.

Files are read line by line. A bad line is either skipped and described in ``problems`` (the
default, so one broken row does not stop a long run) or, with ``strict=True``, raised as
InvalidInputError naming ``file:line``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Generic, Iterator, TypeVar

from ..errors import InvalidInputError

Item = TypeVar("Item")


@dataclass(frozen=True)
class Document:
    """One corpus passage; ids are kept as strings so they match the queries' ``relevant`` ids."""

    id: str
    text: str


@dataclass(frozen=True)
class Query:
    """A question, the ids of the passages that answer it, and (when known) the gold answers."""

    question: str
    relevant: tuple[str, ...]
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class StsPair:
    """Two sentences and their gold similarity (STS-B: 0 to 5)."""

    sentence1: str
    sentence2: str
    score: float


@dataclass
class Loaded(Generic[Item]):
    """What a loader read: the good items and, in order, a description of every skipped line."""

    path: Path
    items: list[Item] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)


class _BadLine(Exception):
    """A parser's complaint about one line; the loader adds file and line number."""


def _lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) pairs; text is None for a line that is not valid UTF-8."""
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    # Bytes, decoded line by line: one badly encoded line is reported, the rest still load.
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
            yield number, text.rstrip("\r\n")


def _load(path: str | Path, parse: Callable[[str], Item], strict: bool) -> Loaded[Item]:
    source = Path(path)
    loaded: Loaded[Item] = Loaded(path=source)
    for number, line in _lines(source):
        if line is not None and not line.strip():
            continue  # blank lines (a trailing newline, spacing) are not data
        try:
            if line is None:
                raise _BadLine("not valid UTF-8")
            loaded.items.append(parse(line))
        except _BadLine as problem:
            message = f"{source}:{number}: {problem}"
            if strict:
                raise InvalidInputError(message) from None
            loaded.problems.append(message)
    return loaded


def _json_object(line: str) -> dict:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as error:
        raise _BadLine(f"not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(value, dict):
        raise _BadLine(f"expected a JSON object, got {type(value).__name__}")
    return value


def _id(value, field_name: str) -> str:
    # JSON numbers and strings are both common ids; bools are almost surely a mistake.
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise _BadLine(f"{field_name!r} must be a non-empty string or an integer, got {value!r}")
    return str(value)


def _text(value, field_name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadLine(f"{field_name!r} must be a non-empty string, got {value!r:.60}")
    return value


def _parse_document(line: str) -> Document:
    record = _json_object(line)
    for name in ("id", "text"):
        if name not in record:
            raise _BadLine(f"missing field {name!r}; expected {{\"id\", \"text\"}}")
    return Document(id=_id(record["id"], "id"), text=_text(record["text"], "text"))


def _parse_query(line: str) -> Query:
    record = _json_object(line)
    if "question" not in record:
        raise _BadLine(
            'missing field "question"; expected {"question", "relevant"} or {"question", "answers", "passage_id"}'
        )
    question = _text(record["question"], "question")
    answers: tuple[str, ...] = ()
    if "answers" in record:
        raw_answers = record["answers"]
        if not isinstance(raw_answers, list) or not all(isinstance(answer, str) for answer in raw_answers):
            raise _BadLine(f'"answers" must be a list of strings, got {raw_answers!r:.60}')
        answers = tuple(raw_answers)
    if "relevant" in record:
        raw_relevant = record["relevant"]
        if not isinstance(raw_relevant, list) or not raw_relevant:
            raise _BadLine(f'"relevant" must be a non-empty list of ids, got {raw_relevant!r:.60}')
        relevant = tuple(_id(value, "relevant") for value in raw_relevant)
    elif "passage_id" in record:
        relevant = (_id(record["passage_id"], "passage_id"),)
    else:
        raise _BadLine('missing "relevant" (a list of ids) or "passage_id"')
    return Query(question=question, relevant=relevant, answers=answers)


def _parse_sts(line: str) -> StsPair:
    # STS-B is tab-separated but not CSV: sentences may hold quote characters, and some rows
    # carry extra fields after sentence2, which are ignored.
    fields = line.split("\t")
    if len(fields) < 7:
        raise _BadLine(
            "expected at least 7 tab-separated fields (genre, source, year, id, score, sentence1, "
            f"sentence2), got {len(fields)}"
        )
    try:
        score = float(fields[4])
    except ValueError:
        raise _BadLine(f"score (field 5) must be a number, got {fields[4]!r:.40}") from None
    if score != score or score in (float("inf"), float("-inf")):
        raise _BadLine(f"score (field 5) must be finite, got {fields[4]!r}")
    first, second = fields[5].strip(), fields[6].strip()
    if not first or not second:
        raise _BadLine("sentence1 and sentence2 (fields 6 and 7) must both be non-empty")
    return StsPair(sentence1=first, sentence2=second, score=score)


def load_corpus(path: str | Path, strict: bool = False) -> Loaded[Document]:
    """Read a JSON-lines corpus, one ``{"id", "text"}`` object per line (other fields ignored).

    Args:
        path: the .jsonl file.
        strict: raise InvalidInputError at the first bad line instead of skipping it.
    Returns:
        Loaded with ``items`` (Document) and ``problems`` ("file:line: what is wrong").

    Example:
        >>> corpus = load_corpus("../shared/data/quoref/passages.jsonl")
        >>> len(corpus), corpus.problems
        (1471, [])
    """
    seen: set[str] = set()

    def parse(line: str) -> Document:
        document = _parse_document(line)
        if document.id in seen:
            raise _BadLine(f"duplicate id {document.id!r}; ids must be unique")
        seen.add(document.id)
        return document

    return _load(path, parse, strict)


def load_queries(path: str | Path, strict: bool = False) -> Loaded[Query]:
    """Read JSON-lines queries: ``{"question", "relevant": [ids]}`` or the Quoref layout
    ``{"question", "answers", "passage_id"}`` (then relevant = [passage_id]).

    Example:
        >>> queries = load_queries("../shared/data/quoref/questions.jsonl")
        >>> queries.items[0].relevant
        ('9821bc1796c7',)
    """
    return _load(path, _parse_query, strict)


def load_sts(path: str | Path, strict: bool = False) -> Loaded[StsPair]:
    """Read STS-B: tab-separated genre, source, year, id, score, sentence1, sentence2[, extra...].

    Example:
        >>> pairs = load_sts("../shared/data/stsb/sts-dev.csv")
        >>> len(pairs), pairs.items[0].score
        (1500, 5.0)
    """
    return _load(path, _parse_sts, strict)


#: A pair counts as a paraphrase at this gold score or above (STS-B: 4 = "mostly equivalent").
PARAPHRASE_MIN_SCORE = 4.0


@dataclass
class RetrievalTask:
    """A corpus, its queries (each with relevant corpus ids), and where they came from."""

    documents: list[Document]
    queries: list[Query]
    source: str
    problems: list[str] = field(default_factory=list)


def paraphrase_task(pairs: list[StsPair], min_score: float = PARAPHRASE_MIN_SCORE, source: str = "") -> RetrievalTask:
    """Turn STS pairs into a paraphrase retrieval task: find a sentence's paraphrase among all sentence-2s.

    The rule (issue 17): corpus = the unique sentence-2s, in first-seen order, ids ``s2-1``, ``s2-2``...;
    queries = each distinct sentence 1 of a pair scored >= ``min_score`` whose sentence 1 differs from
    its sentence 2 and is not itself a corpus sentence (a verbatim copy would be found by any method);
    relevant = the corpus ids of that query's sentence-2s (from its pairs that pass the rule).

    Example:
        >>> task = paraphrase_task(load_sts("../shared/data/stsb/sts-dev.csv").items)
        >>> task.queries[0].question, task.queries[0].relevant
        ('A man with a hard hat is dancing.', ('s2-1',))
    """
    corpus: dict[str, str] = {}
    for pair in pairs:
        corpus.setdefault(pair.sentence2, f"s2-{len(corpus) + 1}")
    relevant: dict[str, list[str]] = {}
    for pair in pairs:
        first = pair.sentence1
        if pair.score < min_score or first == pair.sentence2 or first in corpus:
            continue
        ids = relevant.setdefault(first, [])
        if corpus[pair.sentence2] not in ids:
            ids.append(corpus[pair.sentence2])
    return RetrievalTask(
        documents=[Document(id_, text) for text, id_ in corpus.items()],
        queries=[Query(question, tuple(ids)) for question, ids in relevant.items()],
        source=source,
    )


def load_paraphrase_task(path: str | Path, strict: bool = False, min_score: float = PARAPHRASE_MIN_SCORE) -> RetrievalTask:
    """Read an STS-B file (``load_sts``) and build ``paraphrase_task`` from it; skipped lines in ``problems``.

    Example:
        >>> task = load_paraphrase_task("../shared/data/stsb/sts-dev.csv")
        >>> len(task.documents), len(task.queries)
        (1467, 252)
    """
    loaded = load_sts(path, strict=strict)
    if not loaded.items:
        raise InvalidInputError(f"{path}: no valid STS pairs; expected tab-separated lines with a score and two sentences")
    task = paraphrase_task(loaded.items, min_score=min_score, source=str(path))
    task.problems = list(loaded.problems)
    return task
