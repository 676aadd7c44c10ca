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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .errors import InvalidInputError
from .metadata import check_metadata, check_unicode

if TYPE_CHECKING:
    from .ingest import IngestReport

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + (".jsonl",)
# Reading stops at this size: a file larger than this is reported, not loaded.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Bytes read from a text file at a time.
BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Source:
    """One file to ingest: where it is, its id (relative to its root) and the id older versions gave it."""

    path: Path
    name: str
    legacy_name: str


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
                found.append(Source(file, f"{label}/{relative}" if label else relative, str(file.resolve())))
        elif path.is_file():
            if path.suffix.lower() in SUFFIXES:
                found.append(Source(path, path.name, str(path.resolve())))
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
    metadata = {"source": source.name, "file": source.path.name}
    hasher = _DocumentHasher()
    blank = True
    offset = 0
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
            blank = blank and not piece.strip()
            offset += len(block)
            if not block:
                break
    if blank:
        report.problems.append((str(source.path), "empty file"))
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
            self._hash.update(json.dumps(piece, ensure_ascii=False)[1:-1].encode("utf-8"))

    def finish(self, metadata: dict[str, Any]) -> str:
        self._hash.update(('", ' + json.dumps(metadata, sort_keys=True, ensure_ascii=False) + "]").encode("utf-8"))
        return self._hash.hexdigest()


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
    metadata = {key: value for key, value in row.items() if key not in ("text", "id")}
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
