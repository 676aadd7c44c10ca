"""The BM25 worker's side of ``sparse_worker.py``: a loop answering one writer at a time, started as
``python -c "...serve()" FD WRITER_PID`` (a fresh interpreter: nothing of the writer's SQLite state
is inherited, as a fork would)."""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sqlite3
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np


class SparseRow(NamedTuple):
    """What the sparse tables read of an item (sent to the worker instead of the whole item)."""

    kind: str
    text: str | None
    parent: str | None
    start: int | None
    end: int | None


def columns_of_rows(rows) -> tuple[list, ...]:
    """Rows (any objects with SparseRow's fields) as one list per field: pickled as plain lists, a
    write's 512 rows cost the writer a third of what as many named tuples did (each pickled through
    Python-level ``__getnewargs__``)."""
    return ([row.kind for row in rows], [row.text for row in rows], [row.parent for row in rows],
            [row.start for row in rows], [row.end for row in rows])


def rows_of_columns(columns: tuple[list, ...]) -> list[SparseRow]:
    return list(map(SparseRow._make, zip(*columns)))


# --- the worker process ------------------------------------------------------------------------
class _Served:
    """The worker's state while it serves one writer's run."""

    def __init__(self, path: str, view: int, run_since: int | None, writer_pid: int):
        from .sparse_tables import CollectionSparse
        from .store import ContentStore

        self.writer_pid = writer_pid
        self.store = ContentStore(Path(path))
        self.sparse = CollectionSparse(self.store, view)
        self.sparse.serve_run(view - 1 if run_since is None else run_since)  # it serves an index run
        self.precounted = None  # (rows, plan, counts) of the last precount

    def write(self, work, *arguments):
        """``work(*arguments)`` in one transaction holding SQLite's write lock, if the writer is still alive."""
        connection = self.store.connection
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            if os.getppid() != self.writer_pid:
                raise RuntimeError("the writer that started this worker has ended")
            return work(*arguments)

    def precount(self, columns: tuple[list, ...]) -> None:
        self.precounted = None
        rows = rows_of_columns(columns)
        self.precounted = (rows, *_count_as_new(self.sparse, rows))

    def change(self, added: list, removed: list, precounted: bool, answer_read) -> None:
        guess, self.precounted = (self.precounted if precounted else None), None
        try:
            plan, counted = _plan(self.sparse, added, removed, guess)
        finally:
            answer_read()  # the writer may change these rows again now
        if counted is None:  # before taking the write lock: the writer writes meanwhile
            counted = self.sparse.count(plan)
        self.write(self.sparse.write, plan, counted)

    def purge(self, gen: int) -> None:
        """Drop what a merge retired, after the writer's commit point. SQLite failing here (a full disk, a
        lock held past the busy timeout) fails nothing: the next commit's purge takes these too, as
        when the writer purges its own (``EmbeddedCommits._commit``)."""
        try:
            self.write(self.sparse.purge, gen)
        except sqlite3.Error:
            pass

    def close(self) -> None:
        # Not ContentStore.close's WAL checkpoint: the writer's connection is open, and its close folds
        # the WAL into the file.
        self.store.connection.close()


def serve() -> None:
    """The worker's loop (``python -c ... serve() FD WRITER_PID``): answers until the socket closes.
    "precount", "change", "advance" and "purge" are not answered ("change" only once it has read what
    it needs); a failure among them is the answer to the next request."""
    # Ctrl-C reaches the whole process group: the writer decides (it stops or discards this worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(int(sys.argv[1]))
    writer_pid = int(sys.argv[2])
    served: _Served | None = None
    failure: str | None = None
    # Received by a thread of their own: the writer's send returns while this loop still counts.
    received: queue.Queue = queue.Queue()
    threading.Thread(target=_receive_all, args=(connection, received), daemon=True).start()

    def answer(status: str, value: Any = None) -> None:
        connection.send_bytes(pickle.dumps((status, value)))

    while (data := received.get()) is not None:
        kind, *arguments = pickle.loads(data)
        if kind == "open":
            if served is not None:
                served.close()
            served, failure = None, None
            try:
                served = _Served(*arguments, writer_pid)
                answer("ok")
            except Exception as error:  # noqa: BLE001 - reported to the writer
                failure = _describe(error)
                answer("error", failure)
            continue
        if kind in ("precount", "change", "advance", "purge"):
            read = [kind != "change"]  # a change is answered "read" once, failed or not

            def answer_read(read=read) -> None:
                read[0] = True
                answer("read")

            if failure is None:
                try:
                    if kind == "precount":
                        served.precount(*arguments)
                    elif kind == "change":
                        served.change(*arguments, answer_read)
                    elif kind == "advance":
                        served.sparse.advance(*arguments)
                    else:
                        served.purge(*arguments)
                except Exception as error:  # noqa: BLE001 - reported to the writer
                    failure = _describe(error)
            if not read[0]:
                answer_read()
            continue
        try:
            if failure is not None:
                answer("error", failure)
            elif kind == "sizes":
                answer("ok", served.sparse.sizes())
            elif kind == "merge_newer":
                answer("ok", served.write(served.sparse.merge_newer, *arguments))
            elif kind == "close":
                answer("ok")
            else:
                answer("error", f"unknown request {kind!r}")
        except Exception as error:  # noqa: BLE001 - reported to the writer
            failure = _describe(error)
            answer("error", failure)
        if kind == "close" and served is not None:
            served.close()
            served, failure = None, None


def _count_as_new(sparse, rows: list[SparseRow]):
    """A plan and its counts for adding ``rows`` as new documents (each parent's chunks all among
    them), row ids standing for their positions until ``_plan`` knows the real ones."""
    from .sparse_tables import ChangePlan

    added = [(position, row) for position, row in enumerate(rows) if row.kind == "text" and row.text is not None]
    members: dict[str, list] = {}
    for position, row in added:
        if row.parent is not None:
            span = (row.start, row.end) if row.start is not None and row.end is not None else None
            members.setdefault(row.parent, []).append((position, row.text, span))
    plan = ChangePlan(added, [], np.zeros(0, dtype=np.int64), [], sorted(members), members)
    return plan, sparse.count(plan)


def _plan(sparse, added: list, removed: list, guess) -> tuple[Any, dict | None]:
    """The plan of a change, and its counts when counted ahead (``guess``, from ``_count_as_new``) and
    its parents have no other rows: the row ids the write got replace the positions."""
    if guess is not None:
        rows, plan, counted = guess
        rowids = added
        added = list(zip(rowids, rows))
        if not removed and not sparse.earlier_chunks(plan.recount, [rowids[position] for position, _ in plan.added]):
            keys, *document_counts = counted["documents"]
            return (_remapped(plan, rowids), {**counted, "documents": ([rowids[key] for key in keys], *document_counts)})
    return sparse.plan(added, removed), None


def _remapped(plan, rowids: list[int]):
    from .sparse_tables import ChangePlan

    members = {parent: [(rowids[position], text, span) for position, text, span in rows]
               for parent, rows in plan.members.items()}
    return ChangePlan([(rowids[position], row) for position, row in plan.added], [], plan.removed_ids, [],
                      plan.recount, members)


def _receive_all(connection: Connection, received: queue.Queue) -> None:
    try:
        while True:
            received.put(connection.recv_bytes())
    except (EOFError, OSError):
        received.put(None)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
