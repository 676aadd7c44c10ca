"""Ingesting files into a collection: discover, read, hash, chunk, encode, replace.

A document is a .txt/.md file or one line of a .jsonl file. Its chunks carry the document id as
``parent`` and their character offsets. An unchanged document (same content hash) is skipped; a
changed one has its chunks replaced. Files that cannot be read are reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from .chunking import chunk_text
from .errors import InvalidInputError
from .progress import ProgressCallback
from .collection.items import Item

if TYPE_CHECKING:
    from .collection import Collection

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = TEXT_SUFFIXES + (".jsonl",)
# Reading stops at this size: a file larger than this is reported, not loaded.
MAX_FILE_BYTES = 256 * 1024 * 1024
# Documents encoded per group, to bound memory on large corpora.
GROUP_DOCUMENTS = 256


@dataclass
class Document:
    id: str
    text: str
    metadata: dict[str, Any]

    @property
    def hash(self) -> str:
        payload = json.dumps([self.text, self.metadata], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class IngestReport:
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    chunks: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added_documents": self.added,
            "replaced_documents": self.replaced,
            "unchanged_documents": self.unchanged,
            "chunks_written": self.chunks,
            "problems": [{"path": path, "reason": reason} for path, reason in self.problems],
        }


def discover(paths: Iterable[str | Path], report: IngestReport) -> list[Path]:
    """Files to ingest: named files, and supported files under named folders (recursively, sorted)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            if path.suffix.lower() in SUFFIXES:
                found.append(path)
            else:
                report.problems.append((str(path), f"unsupported file type {path.suffix!r}; expected {', '.join(SUFFIXES)}"))
        else:
            report.problems.append((str(path), "no such file or folder"))
    return found


def read_documents(path: Path, report: IngestReport) -> Iterator[Document]:
    """Documents in one file; problems go to ``report`` and the file (or line) is skipped."""
    text = _read_text(path, report)
    if text is None:
        return
    source = str(path.resolve())
    if path.suffix.lower() != ".jsonl":
        yield Document(source, text, {"source": source, "file": path.name})
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            report.problems.append((f"{path}:{number}", f"invalid JSON: {error}"))
            continue
        except RecursionError:
            report.problems.append((f"{path}:{number}", "JSON nested too deeply"))
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            report.problems.append((f"{path}:{number}", 'expected an object with a non-empty "text" field'))
            continue
        metadata = {key: value for key, value in row.items() if key not in ("text", "id")}
        metadata.setdefault("source", source)
        document_id = str(row["id"]) if row.get("id") not in (None, "") else f"{source}:{number}"
        yield Document(document_id, row["text"], metadata)


def _read_text(path: Path, report: IngestReport) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            report.problems.append((str(path), f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"))
            return None
        data = path.read_bytes()
    except OSError as error:
        report.problems.append((str(path), f"cannot read: {error.strerror or error}"))
        return None
    if b"\x00" in data[:8192]:
        report.problems.append((str(path), "binary file (NUL bytes)"))
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        report.problems.append((str(path), f"not UTF-8 text (byte {error.start})"))
        return None
    if not text.strip():
        report.problems.append((str(path), "empty file"))
        return None
    return text


def ingest(
    collection: "Collection",
    paths: Iterable[str | Path],
    *,
    max_tokens: int | None = None,
    overlap: int = 32,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Index files and folders into a collection (staged; the caller commits).

    Args:
        collection: a collection opened for writing.
        paths: files (.txt, .md, .jsonl) and folders.
        max_tokens: tokens per chunk (default: the model's max sequence length less special tokens).
        overlap: tokens shared by neighbouring chunks.
        progress: called with (chunks encoded, chunks to encode).
    Returns:
        What was added, replaced, skipped, and every problem with its path.
    Example:
        >>> with Collection.open("news") as news:
        ...     ingest(news, ["articles/"]).as_dict()["chunks_written"]
    """
    report = IngestReport()
    encoder = collection.encoder()
    limit = max_tokens or max(8, (encoder.max_seq_length or 256) - 2)
    if overlap >= limit:
        raise InvalidInputError(f"overlap {overlap} must be smaller than the chunk size {limit} tokens")
    pending: list[tuple[Document, list[Item], bool]] = []
    for path in discover(paths, report):
        for document in read_documents(path, report):
            digest = document.hash
            previous = collection.document_hash(document.id)
            if previous == digest:
                report.unchanged += 1
                continue
            chunks = [
                Item(
                    id=f"{document.id}#{chunk.index}",
                    text=chunk.text,
                    metadata={**document.metadata, "chunk": chunk.index},
                    parent=document.id,
                    start=chunk.start,
                    end=chunk.end,
                    hash=digest,
                )
                for chunk in chunk_text(document.text, encoder.token_spans, limit, min(overlap, limit - 1))
            ]
            if not chunks:
                report.problems.append((document.id, "no text to index"))
                continue
            pending.append((document, chunks, previous is not None))
    _write(collection, pending, report, batch_size, progress)
    return report


def _write(collection, pending, report: IngestReport, batch_size, progress) -> None:
    total = sum(len(chunks) for _, chunks, _ in pending)
    done = 0
    for start in range(0, len(pending), GROUP_DOCUMENTS):
        group = pending[start : start + GROUP_DOCUMENTS]
        items = [item for _, chunks, _ in group for item in chunks]

        def group_progress(finished: int, _total: int | None, offset: int = done) -> None:
            if progress is not None:
                progress(offset + finished, total)

        vectors = collection.encode_items(items, batch_size=batch_size, progress=group_progress)
        # Encoded first; only now are the old chunks of changed documents replaced, in one atomic write.
        collection.replace([document.id for document, _, existed in group if existed], items, vectors=vectors)
        done += len(items)
        report.chunks += len(items)
        report.replaced += sum(1 for _, _, existed in group if existed)
        report.added += sum(1 for _, _, existed in group if not existed)
    if progress is not None and total == 0:
        progress(0, 0)
