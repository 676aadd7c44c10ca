"""Ingesting files into a collection: discover, read, hash, chunk, encode, replace.

A document is a .txt/.md file or one line of a .jsonl file (``ingest_sources``: ids relative to the
indexed root, text streamed). Its chunks carry the document id as ``parent`` and their character
offsets. An unchanged document (same content hash) is skipped; a changed one has its chunks replaced.
Files, lines and documents that cannot be used are reported with their file (and line), never fatal:

- an id seen earlier in the same run (same JSONL file or another file): the first one in file order
  is indexed, each later one is listed and skipped;
- metadata that is not storable (NaN, Infinity, lone surrogates, nesting past 32 levels);
- a document whose own metadata has a ``chunk`` key keeps it (the chunk number is then only in the
  item id's ``#N`` suffix and in ``start``/``end``), and this is listed once per document.

With ``commit_every`` (``densekit index`` always passes one) the run commits as it goes, only at document
boundaries: a document's chunks are never split between commits, so a run that is killed loses at
most the documents written since its last commit, and a run started again skips every committed
document (its hash is unchanged) and encodes only the rest.

Memory is bounded per input, not by its size: text is tokenised 64K characters at a time
(``chunking.chunk_stream``) and chunks are encoded and staged ``GROUP_CHUNKS`` at a time, so what a run
holds beyond the collection's own index is one group of chunks and one window of text.

Collections indexed before ids were relative (absolute-path ids) are migrated by indexing again:
a document found under its old absolute id is replaced by the same document under its relative id.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .allocator import return_free_memory
from .chunking import chunk_stream, default_chunk_tokens, max_chunk_tokens
from .collection.items import Item
from .collection.space import index_run
from .errors import InvalidInputError
from .ingest_sources import (
    MAX_FILE_BYTES,
    SUFFIXES,
    TEXT_SUFFIXES,
    Document,
    discover,
    read_documents,
    with_path_metadata,
)
from .progress import ProgressCallback

if TYPE_CHECKING:
    from .collection import Collection

__all__ = ["MAX_FILE_BYTES", "SUFFIXES", "TEXT_SUFFIXES", "CommitEvery", "IngestReport", "ingest"]

# Chunks encoded and staged together: bounds the memory one run holds for text and vectors in flight.
GROUP_CHUNKS = 512
GIANT_CHUNKS = 8 * GROUP_CHUNKS
# Free heap kept between writes for the next write's transients (beyond what was free after the last
# trim; glibc maps blocks of 32 MiB and more apart, returned when freed): trimmed after every write, the
# pages were faulted in again by the next (+25% hashing encoding time in an index run of ../shared/data/quoref).
KEEP_FREE_BYTES = 32 * 2**20
#: The longest a commit that is due waits for the next group to be read (``_GroupWriter.tick``), or the
#: policy's ``seconds`` when shorter.
COMMIT_DELAY_SECONDS = 0.25
CHUNK_KEY = "chunk"


@dataclass(frozen=True)
class CommitEvery:
    """When ``ingest`` commits as it goes: once ``documents`` documents were written, or ``seconds``
    have passed since the last commit, whichever comes first; checked after each written document
    (so one very long document can stretch an interval). ``seconds=0``: after every document.

    Example:
        >>> ingest(news, ["articles/"], commit_every=CommitEvery(documents=100, seconds=5))
    """

    documents: int = 256
    seconds: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.documents, bool) or not isinstance(self.documents, int) or self.documents < 1:
            raise InvalidInputError(f"commit every {self.documents!r:.40} documents: expected a whole number, 1 or more")
        if (isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float))
                or not math.isfinite(self.seconds) or self.seconds < 0):
            raise InvalidInputError(f"commit every {self.seconds!r:.40} seconds: expected a number of seconds, 0 or more")


@dataclass
class IngestReport:
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    migrated: int = 0
    chunks: int = 0
    commits: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added_documents": self.added,
            "replaced_documents": self.replaced,
            "unchanged_documents": self.unchanged,
            "migrated_documents": self.migrated,
            "chunks_written": self.chunks,
            "commits": self.commits,
            "problems": [{"path": path, "reason": reason} for path, reason in self.problems],
        }


def ingest(
    collection: "Collection",
    paths: Iterable[str | Path],
    *,
    max_tokens: int | None = None,
    overlap: int = 32,
    batch_size: int | None = None,
    progress: ProgressCallback | None = None,
    path_metadata: str | None = None,
    commit_every: CommitEvery | None = None,
) -> IngestReport:
    """Index files and folders into a collection: staged for the caller to commit, or with
    ``commit_every`` committed as it goes (at document boundaries) and once more at the end.

    Args:
        collection: a collection opened for writing.
        paths: files (.txt, .md, .jsonl) and folders; ids are relative to each (see ``ingest_sources``).
        max_tokens: tokens per chunk, at most the model's maximum less its special tokens (default:
            ``chunking.default_chunk_tokens``: 126 for a model trained on 128-token inputs).
        overlap: tokens shared by neighbouring chunks.
        progress: called with (chunks encoded, None) while reading, then (total, total) at the end.
        path_metadata: a template such as ``"{category}/{file}"``: each file's path inside its folder
            argument gives these metadata keys (``ingest_sources.path_pattern``).
        commit_every: commit after this many written documents or seconds (``CommitEvery``), and at
            the end merge the BM25 segments the run wrote (``Collection.merge_segments``); None:
            nothing is committed here.
    Returns:
        What was added, replaced, migrated, skipped, and every problem with its path (and line).
    Example:
        >>> with Collection.open("news") as news:
        ...     ingest(news, ["articles/"]).as_dict()["chunks_written"]
    """
    report = IngestReport()
    encoder = collection.encoder()
    model_limit = max_chunk_tokens(encoder.max_seq_length)
    if max_tokens is not None and not (isinstance(max_tokens, int) and 1 <= max_tokens <= model_limit):
        raise InvalidInputError(
            f"max_tokens is {max_tokens!r:.40}; expected 1 to {model_limit}, the model's limit (longer chunks would be cut)"
        )
    limit = max_tokens or default_chunk_tokens(encoder.max_seq_length)
    if not isinstance(overlap, int) or not 0 <= overlap < limit:
        raise InvalidInputError(f"overlap {overlap!r:.40} must be 0 or more and smaller than the chunk size {limit} tokens")
    if commit_every is not None and not isinstance(commit_every, CommitEvery):
        raise InvalidInputError(f"commit_every is {commit_every!r:.40}; expected a CommitEvery or None")
    writer = _GroupWriter(collection, report, batch_size, progress, commit_every)
    started_at = collection.generation
    seen: dict[str, str] = {}
    # Empty when the run starts: no document is there but the ones this run writes, so an id it has not
    # seen needs no lookup (one query per document was ~5% of a first index with the hashing encoder).
    empty = collection.count() == 0
    try:
        # A committing run converts its index (flat -> HNSW past the threshold) and writes its
        # checkpoint at its end, after merging its BM25 segments (space.index_run): its writes and
        # its merge never hold memory on top of a graph or of a checkpoint's copy of the index.
        with index_run(started_at) if commit_every is not None and started_at is not None else contextlib.nullcontext():
            try:
                for source in with_path_metadata(discover(paths, report), path_metadata, report):
                    for document in read_documents(source, report):
                        writer.tick()  # also past documents that write nothing (unchanged ones)
                        if document.id in seen:
                            report.problems.append((document.location, f"duplicate id {document.id!r}: first seen at "
                                                    f"{seen[document.id]}, which is kept; this one is skipped"))
                            continue
                        seen[document.id] = document.location
                        _ingest_document(collection, document, writer, report, encoder.token_spans, limit, overlap,
                                         seen if empty else None)
                writer.flush()
                if commit_every is not None:
                    writer.commit()
            except BaseException as error:
                # Inside the run: its commit of the documents due leaves the index's conversion and
                # checkpoint to the run's end, as every commit of the run does.
                writer.abandon(error)
                raise
        if commit_every is not None and started_at is not None:
            # One segment per table for the whole run instead of one per write (a merge of the
            # run's own segments, committed like any write: a kill keeps the commit before it).
            collection.merge_segments(started_at)
    except BaseException as error:
        writer.abandon(error)
        raise
    if progress is not None:
        progress(writer.done, writer.done)
    return report


def _ingest_document(collection, document: Document, writer: "_GroupWriter", report: IngestReport,
                     token_spans, limit: int, overlap: int, only: dict[str, str] | None = None) -> None:
    """``only``: when given, the ids that can have a document (the run's own, the collection empty at
    its start); this document's own id is among them but was not written before (duplicates are skipped)."""
    previous = collection.document_hash(document.id) if only is None else None
    if previous == document.hash:
        report.unchanged += 1
        return
    legacy = None
    if (previous is None and document.legacy_id and (only is None or document.legacy_id in only)
            and collection.document_hash(document.legacy_id) is not None):
        legacy = document.legacy_id
    own_chunk_key = CHUNK_KEY in document.metadata
    count = 0
    queued, flushes = (len(writer.items), len(writer.deletions)), writer.flushes
    try:
        for chunk in chunk_stream(document.pieces(), token_spans, limit, overlap):
            if count == 0:  # replaced only once its new chunks are being written
                writer.replace([id_ for id_ in (document.id if previous is not None else None, legacy) if id_])
            metadata = document.metadata if own_chunk_key else {**document.metadata, CHUNK_KEY: chunk.index}
            writer.add(Item(id=f"{document.id}#{chunk.index}", text=chunk.text, metadata=metadata,
                            parent=document.id, start=chunk.start, end=chunk.end, hash=document.hash))
            count += 1
    except (OSError, UnicodeDecodeError) as error:
        # The file went or changed since it was read for its hash. Nothing of it written yet (every
        # document but one of more than GIANT_CHUNKS chunks): dropped from the queue, the run goes on.
        if writer.flushes != flushes:
            raise
        del writer.items[queued[0]:], writer.deletions[queued[1]:]
        report.problems.append((document.location, f"changed or removed while it was read ({error}); skipped, "
                                "its indexed version (if any) is kept"))
        return
    if count == 0:
        report.problems.append((document.location, "no text to index"))
        return
    writer.document_done()
    if own_chunk_key:
        report.problems.append((document.location, f"metadata key {CHUNK_KEY!r} is the document's own and is kept "
                                f"(indexed; chunk numbers are in the item ids, {document.id!r}#N)"))
    if legacy is not None:
        report.migrated += 1
    elif previous is not None:
        report.replaced += 1
    else:
        report.added += 1


class _GroupWriter:
    """Encodes and stages chunks ``GROUP_CHUNKS`` at a time; old documents are deleted just before.
    With a ``CommitEvery``, commits after a whole document once enough documents or time built up."""

    def __init__(self, collection, report: IngestReport, batch_size, progress, commit_every: CommitEvery | None):
        self.collection = collection
        #: Open while a document too long to hold in memory is written in parts (with a commit policy).
        self.transaction: contextlib.AbstractContextManager | None = None
        self.report = report
        self.batch_size = batch_size
        self.progress = progress
        self.commit_every = commit_every
        self.items: list[Item] = []
        self.deletions: list[str] = []
        self.done = 0
        self.flushes = 0  # writes made: a document read in part is dropped only if none was its
        self.uncommitted_documents = 0
        self.last_commit = time.monotonic()
        self.due: float | None = None  # when the staged documents became due for a commit not made yet

    def replace(self, ids: list[str]) -> None:
        self.deletions += ids

    def add(self, item: Item) -> None:
        self.items.append(item)
        self.tick()
        # Only a document of more than GIANT_CHUNKS chunks is split between writes (bounded memory);
        # the others are replaced whole, each in one write. Committing as it goes, its parts go into
        # one transaction: a store whose every write is durable (PostgreSQL) must not keep half of it,
        # or a re-run would find its hash and skip it.
        if len(self.items) >= GIANT_CHUNKS:
            if self.commit_every is not None and self.transaction is None:
                self._commit_due()
                self.transaction = self.collection.transaction()
                self.transaction.__enter__()
            self.flush()

    def document_done(self) -> None:
        self.uncommitted_documents += 1
        if self.transaction is not None:  # the long document is whole: commit it with what came before
            self.flush()
            transaction, self.transaction = self.transaction, None
            transaction.__exit__(None, None, None)
            self.report.commits += 1
            self.uncommitted_documents, self.last_commit = 0, time.monotonic()
            return
        policy = self.commit_every
        now = time.monotonic()
        if policy is not None and (self.uncommitted_documents >= policy.documents or now - self.last_commit >= policy.seconds):
            # Staged now, committed once the next group is read, before it is staged (so the commit
            # holds exactly these documents): meanwhile an index run's BM25 worker writes this group's
            # segment, which a commit made now waited for (docs/storage.md, 3 December).
            self.flush()
            self.due, self.uncommitted_documents, self.last_commit = now, 0, now
        elif len(self.items) >= GROUP_CHUNKS:
            self.flush()

    def tick(self) -> None:
        """Make the commit that fell due once it has waited ``COMMIT_DELAY_SECONDS`` (or the policy's
        seconds): documents that write nothing, or one long document, can keep the next group from
        filling. Nothing is staged after it fell due (``flush`` commits it first), so any moment will do."""
        if (self.due is not None and self.transaction is None
                and time.monotonic() - self.due >= min(COMMIT_DELAY_SECONDS, self.commit_every.seconds)):
            self._commit_due()

    def abandon(self, error: BaseException) -> None:
        """The run failed: drop the parts of a long document written so far, and commit the whole
        documents due for a commit (they would have been before the next group); the rest is the caller's."""
        transaction, self.transaction = self.transaction, None
        try:
            if transaction is not None:
                transaction.__exit__(type(error), error, error.__traceback__)
            else:
                self._commit_due()
        except BaseException:  # the original error is the one to report
            pass

    def commit(self) -> None:
        """Write what is staged and commit it (a commit due first); called only between documents."""
        self.flush()
        if self.uncommitted_documents:
            self.collection.commit()
            self.report.commits += 1
        self.uncommitted_documents = 0
        self.last_commit = time.monotonic()

    def _commit_due(self) -> None:
        if self.due is not None:
            self.due = None
            self.collection.commit()
            self.report.commits += 1

    def flush(self) -> None:
        self._commit_due()  # before this group is staged: the commit holds the documents due, no more
        if not self.items and not self.deletions:
            return
        offset = self.done

        def group_progress(finished: int, _total: int | None) -> None:
            if self.progress is not None:
                self.progress(offset + finished, None)

        # Encoded first; only then are the old chunks of changed documents replaced, in one atomic write.
        vectors = self.collection.encode_items(self.items, batch_size=self.batch_size, progress=group_progress)
        self.collection.replace(self.deletions, self.items, vectors=vectors)
        self.flushes += 1
        self.done += len(self.items)
        self.report.chunks += len(self.items)
        self.items, self.deletions = [], []
        return_free_memory(keep=KEEP_FREE_BYTES)  # this write's word counts and arrays, beyond what the next reuses
