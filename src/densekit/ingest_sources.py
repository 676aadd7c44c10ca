"""Reading the documents of an ingest run: which files, their ids, and their text as a stream.

Ids are relative to the root each path argument names, never absolute server paths: indexing the
folder ``news/`` gives ``news/2024/a.txt``, the folder ``.`` gives ``2024/a.txt``, a file argument
its file name; a JSONL row without an id is ``<its file's id>:<line>``. ``metadata.source`` holds the
same relative name.

A .txt/.md file is read twice, in blocks, never whole: once to check it (UTF-8, not binary, not
empty) and hash it, and again, only if it changed, to chunk it. A JSONL file is read a line at a time,
so the memory for one input is bounded by its longest line (and the file limit), not its size.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .errors import InvalidInputError
from .metadata import check_metadata, check_unicode, metadata_json
from .snippets import title_from_text

if TYPE_CHECKING:
    from .ingest import IngestReport

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + (".jsonl",)
# Reading stops at this size: a file larger than this is reported, not loaded.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Bytes read from a text file at a time.
BLOCK_BYTES = 1024 * 1024
# Characters at the start of a text file read for its title and front matter.
HEAD_CHARACTERS = 8192


@dataclass(frozen=True)
class Source:
    """One file to ingest: where it is, its id (relative to its root) and the id older versions gave it."""

    path: Path
    name: str
    legacy_name: str
    relative: str = ""  # the path inside the folder argument it was found under (its name for a file)
    path_metadata: tuple[tuple[str, str], ...] = ()  # from --path-metadata: key -> value for this file


@dataclass
class Document:
    """One document: its id, metadata, content hash, and its text as a stream of pieces."""

    id: str
    metadata: dict[str, Any]
    location: str  # "path" or "path:line", for problems
    hash: str
    pieces: Callable[[], Iterator[str]]
    legacy_id: str | None = None


def _root_label(root: Path) -> str:
    """The name a folder argument contributes to ids: its own name, or nothing for "." and ".."."""
    name = Path(os.path.normpath(str(root))).name
    return "" if name in ("", ".", "..") else name


def discover(paths: Iterable[str | Path], report: "IngestReport") -> list[Source]:
    """Files to ingest: named files, and supported files under named folders (recursively, sorted)."""
    found: list[Source] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            label = _root_label(path)
            for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES):
                relative = file.relative_to(path).as_posix()
                found.append(Source(file, f"{label}/{relative}" if label else relative, str(file.resolve()), relative))
        elif path.is_file():
            if path.suffix.lower() in SUFFIXES:
                found.append(Source(path, path.name, str(path.resolve()), path.name))
            else:
                report.problems.append((str(path), f"unsupported file type {path.suffix!r}; expected {', '.join(SUFFIXES)}"))
        else:
            report.problems.append((str(path), "no such file or folder"))
    return found


def read_documents(source: Source, report: "IngestReport") -> Iterator[Document]:
    """Documents in one file; problems go to ``report`` and the file (or line) is skipped."""
    try:
        size = source.path.stat().st_size
        if size > MAX_FILE_BYTES:
            report.problems.append((str(source.path), f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"))
            return
        with source.path.open("rb") as file:
            if b"\x00" in file.read(8192):
                report.problems.append((str(source.path), "binary file (NUL bytes)"))
                return
        if source.path.suffix.lower() == ".jsonl":
            yield from _jsonl_documents(source, report)
        else:
            document = _text_document(source, report)
            if document is not None:
                yield document
    except OSError as error:
        report.problems.append((str(source.path), f"cannot read: {error.strerror or error}"))


# --- .txt / .md ----------------------------------------------------------------------------------

def _text_pieces(path: Path) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with path.open("rb") as file:
        while block := file.read(BLOCK_BYTES):
            yield decoder.decode(block)
        yield decoder.decode(b"", final=True)


def _text_document(source: Source, report: "IngestReport") -> Document | None:
    metadata = {"source": source.name, "file": source.path.name, **dict(source.path_metadata)}
    hasher = _DocumentHasher()
    blank = True
    offset = 0
    head = ""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    with source.path.open("rb") as file:
        while True:
            block = file.read(BLOCK_BYTES)
            try:
                piece = decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                report.problems.append((str(source.path), f"not UTF-8 text (byte {offset + error.start})"))
                return None
            hasher.text(piece)
            if len(head) < HEAD_CHARACTERS:
                head += piece[: HEAD_CHARACTERS - len(head)]
            blank = blank and not piece.strip()
            offset += len(block)
            if not block:
                break
    if blank:
        report.problems.append((str(source.path), "empty file"))
        return None
    front = front_matter(head) if source.path.suffix.lower() == ".md" else {}
    title = front.get("title") if isinstance(front.get("title"), str) else title_from_text(_after_front_matter(head))
    metadata = {**({"title": title} if title else {}), **front, **metadata}
    try:
        check_metadata(metadata, "front matter")
    except InvalidInputError as error:
        report.problems.append((str(source.path), str(error)))
        return None
    return Document(source.name, metadata, str(source.path), hasher.finish(metadata),
                    lambda: _text_pieces(source.path), legacy_id=source.legacy_name)


class _DocumentHasher:
    """sha256 of ``json.dumps([text, metadata], sort_keys=True, ensure_ascii=False)``, fed the text in pieces
    (JSON escapes character by character, so escaping the pieces equals escaping the whole)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(b'["')

    def text(self, piece: str) -> None:
        if piece:
            self._hash.update(_json_string_body(piece).encode("utf-8"))

    def finish(self, metadata: dict[str, Any]) -> str:
        self._hash.update(('", ' + metadata_json(metadata) + "]").encode("utf-8"))
        return self._hash.hexdigest()


# Control characters JSON escapes other than \n, \r and \t (as \b, \f or \u00XX).
_RARE_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _json_string_body(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)[1:-1]``; by ``str.replace`` unless a rare control character
    is there (a quarter less time on Quoref's passages, read at every index run)."""
    if _RARE_CONTROLS.search(text):
        return json.dumps(text, ensure_ascii=False)[1:-1]
    return (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))


def document_hash(text: str, metadata: dict[str, Any]) -> str:
    hasher = _DocumentHasher()
    hasher.text(text)
    return hasher.finish(metadata)


# --- .jsonl --------------------------------------------------------------------------------------

def _jsonl_documents(source: Source, report: "IngestReport") -> Iterator[Document]:
    any_text = False
    with source.path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            where = f"{source.path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                report.problems.append((where, f"not UTF-8 text (byte {error.start} of the line)"))
                continue
            if not line.strip():
                continue
            any_text = True
            document = _row_document(source, number, line, where, report)
            if document is not None:
                yield document
    if not any_text:
        report.problems.append((str(source.path), "empty file"))


def _row_document(source: Source, number: int, line: str, where: str, report: "IngestReport") -> Document | None:
    try:
        row = json.loads(line)
    except ValueError as error:
        report.problems.append((where, f"invalid JSON: {error}"))
        return None
    except RecursionError:
        report.problems.append((where, "JSON nested too deeply"))
        return None
    if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
        report.problems.append((where, 'expected an object with a non-empty "text" field'))
        return None
    metadata = {**dict(source.path_metadata), **{key: value for key, value in row.items() if key not in ("text", "id")}}
    metadata.setdefault("source", source.name)
    given = row.get("id") not in (None, "")
    document_id = str(row["id"]) if given else f"{source.name}:{number}"
    try:
        check_unicode(row["text"], "text")
        check_unicode(document_id, "id")
        check_metadata(metadata, "metadata")
    except InvalidInputError as error:
        report.problems.append((where, str(error)))
        return None
    text = row["text"]
    return Document(document_id, metadata, where, document_hash(text, metadata), lambda: iter([text]),
                    legacy_id=None if given else f"{source.legacy_name}:{number}")


# --- metadata from a file's path and its front matter ---------------------------------------------

def path_pattern(template: str):
    """A regular expression for ``--path-metadata`` templates such as ``"{category}/{file}"``: each
    ``{key}`` matches one path part, everything else literally.

    Example:
        >>> path_pattern("{category}/{file}").fullmatch("business/001.txt").groupdict()
        {'category': 'business', 'file': '001.txt'}
    """
    import re

    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", template)
    if len(parts) < 2:
        raise InvalidInputError(f"--path-metadata {template!r} names no key; expected e.g. '{{category}}/{{file}}'")
    keys = [part[1:-1] for part in parts[1::2]]
    if len(set(keys)) != len(keys):
        raise InvalidInputError(f"--path-metadata {template!r} names a key twice")
    pattern = "".join(f"(?P<{part[1:-1]}>[^/]+)" if index % 2 else re.escape(part) for index, part in enumerate(parts))
    return re.compile(pattern)


def with_path_metadata(sources: list[Source], template: str | None, report: "IngestReport") -> list[Source]:
    """Sources with the metadata their path gives under ``template`` (files that do not fit it are listed)."""
    if not template:
        return sources
    import dataclasses

    pattern = path_pattern(template)
    result = []
    for source in sources:
        match = pattern.fullmatch(source.relative)
        if match is None:
            report.problems.append((str(source.path), f"path {source.relative!r} does not fit --path-metadata {template!r}; "
                                    "indexed without path metadata"))
            result.append(source)
        else:
            result.append(dataclasses.replace(source, path_metadata=tuple(match.groupdict().items())))
    return result


def front_matter(head: str) -> dict[str, Any]:
    """``key: value`` lines between a leading ``---`` line and the next one (Markdown front matter);
    values that read as JSON numbers, booleans or null become those, the rest stay strings."""
    lines = head.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    found: dict[str, Any] = {}
    for line in lines[1:]:
        if line.strip() in ("---", "..."):
            return found
        key, separator, value = line.partition(":")
        if separator and key.strip() and not key.startswith((" ", "\t")):
            value = value.strip().strip('"').strip("'")
            try:
                parsed = json.loads(value)
                found[key.strip()] = parsed if isinstance(parsed, (int, float, bool)) or parsed is None else value
            except ValueError:
                found[key.strip()] = value
    return {}  # no closing line: not front matter


def _after_front_matter(head: str) -> str:
    lines = head.splitlines()
    if lines and lines[0].strip() == "---":
        for position, line in enumerate(lines[1:], start=1):
            if line.strip() in ("---", "..."):
                return "\n".join(lines[position + 1:])
    return head
