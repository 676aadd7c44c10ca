"""An index run's BM25, counted and written by a process of its own beside the writer (docs/storage.md).

BM25 is half of what `densekit index` costs beside encoding (counting the words of every chunk and
document, writing and merging their segments), and Python holds one core for both. During an index
run (``space.index_run``) the embedded writer hands each staged write's sparse change to this worker
instead: the worker owns the sparse tables' vocabulary and segments for the run, reads the rows the
writer staged, counts and writes the segments at the same staged generation in its own SQLite
transactions, and answers the writer at each commit, which publishes both together. Readers see
nothing of either until the manifest names the generation, as before.

Ordering: a change is sent after the writer's transaction that staged its rows, and the worker
answers "read" once it has read what the change needs from those rows (``CollectionSparse.plan``);
the writer waits for that answer before its next transaction, so no later write changes what the
plan saw. Counting and writing then overlap the writer's encoding of the next batch.

Safety: a worker that fails (or ends) fails the writer's next call, and the writer drops what it
staged since its last commit (``EmbeddedWrites._discard_staged``), as a kill would. Each write
transaction of the worker first takes SQLite's write lock and then checks that the writer that
started it is still alive, so a worker outliving a killed writer never stages anything after the next
writer has discarded the killed one's staged generation.

``DENSEKIT_SPARSE_WORKER=0`` keeps BM25 in the writer's process (also the choice on one CPU).
"""

from __future__ import annotations

import atexit
import collections
import os
import pickle
import queue
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ...errors import CollectionError


class SparseWorkerError(CollectionError):
    """The BM25 worker failed or ended: what the writer staged since its last commit is dropped."""


class SparseRow(NamedTuple):
    """What the sparse tables read of an item (sent to the worker instead of the whole item)."""

    kind: str
    text: str | None
    parent: str | None
    start: int | None
    end: int | None


def wanted() -> bool:
    """Whether index runs count BM25 in a worker: not when turned off, nor on one CPU."""
    if os.environ.get("DENSEKIT_SPARSE_WORKER", "1") == "0" or os.name != "posix":
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2


def _rows(pairs: list[tuple[int, Any]]) -> list[tuple[int, SparseRow]]:
    return [(int(rowid), SparseRow(item.kind, item.text, item.parent, item.start, item.end)) for rowid, item in pairs]


#: Changes the writer may send ahead of the worker's reads (each holds one write's texts in memory).
AHEAD = 4


class _Process:
    """A started worker process and its end of the socket."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[3])  # the densekit the writer runs
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                "from densekit.collection.embedded.sparse_worker import serve; serve()")
        self.process = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno()), str(os.getpid())],
                                        pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        theirs.close()
        self.connection = Connection(ours.detach())

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.connection.close()
        if self.alive():
            self.process.kill()
        self.process.wait()


#: Workers that served a run and wait for the next (starting one costs a Python start, ~0.3 s).
_idle: list[_Process] = []


@atexit.register
def _end_idle() -> None:
    """Idle workers end when their socket closes; closed here, and waited for, before this process ends."""
    while _idle:
        _idle.pop().kill()


def prestart() -> None:
    """Start a worker now for an index run about to begin (``densekit index``): its start overlaps
    opening the collection and loading the model."""
    if wanted() and not _idle:
        _idle.append(_Process())


def _take() -> _Process:
    while _idle:
        worker = _idle.pop()
        if worker.alive():
            return worker
        worker.kill()
    return _Process()


class SparseWorker:
    """The writer's side: what ``EmbeddedWrites`` calls on its sparse tables, answered by the worker.
    Every call but ``change`` waits for the worker's answer; a failure raises ``SparseWorkerError``
    from then on."""

    def __init__(self, path: Path, view: int):
        self.view = int(view)
        self._worker: _Process | None = _take()
        #: The parents of each change sent whose reads the worker has not confirmed yet, oldest first.
        self._unread: collections.deque[frozenset] = collections.deque()
        self._failure: str | None = None
        self._precounted: list | None = None  # the items of the last precount, not yet written
        # Answered with the next request: a worker starting (~0.3 s) overlaps the writer's first batch.
        self._send(("open", str(path), self.view))
        self._owed = 1  # answers to requests sent without waiting ("open")

    # --- writes ------------------------------------------------------------------------------
    def precount(self, items: list) -> None:
        """Send the items of the writer's next write before it encodes them: the worker counts their
        words meanwhile, as new documents (row ids still unknown), and uses the counts if the write's
        rows turn out to be that (``change``), or counts again."""
        self._precounted = list(items)
        self._send(("precount", [SparseRow(item.kind, item.text, item.parent, item.start, item.end) for item in items]))

    def change(self, added: list[tuple[int, Any]], removed: list[tuple[int, Any]]) -> None:
        """Send a change whose rows the writer's transaction has just committed (staged): only their
        row ids when they are the items last sent by ``precount``."""
        parents = frozenset(item.parent for _, item in added + removed if item.parent is not None)
        counted, self._precounted = self._precounted, None
        if counted is not None and len(counted) == len(added) and all(
                item is sent for (_, item), sent in zip(added, counted)):
            self._send(("change", [int(rowid) for rowid, _ in added], _rows(removed), True))
        else:
            self._send(("change", _rows(added), _rows(removed), False))
        self._unread.append(parents)

    def before_change(self, parents: set) -> None:
        """Called before the writer's transaction that stages a change of ``parents``' chunks: waits
        until the worker has read what the changes sent before need where they share a parent (their
        plan reads those parents' rows), or when it is more than ``AHEAD`` changes behind."""
        self._check()
        while (self._owed or self._unread) and self._worker.connection.poll():  # what is there already
            self._take_answer()
        while self._unread and (len(self._unread) > AHEAD or any(parents & sent for sent in self._unread)):
            self._take_answer()

    def settle_reads(self) -> None:
        """Wait until the worker has answered "open" and read what every change sent needs."""
        while self._owed or self._unread:
            self._take_answer()

    def _take_answer(self) -> None:
        """The next answer: "open"'s comes before any change is read."""
        self._receive()
        if self._owed:
            self._owed -= 1
        else:
            self._unread.popleft()

    def sizes(self) -> tuple[int, int]:
        texts, documents = self._request("sizes")
        return int(texts), int(documents)

    def advance(self, view: int) -> None:
        """Move on to ``view`` (after a commit); confirmed by the next answer."""
        self._send(("advance", int(view)))
        self.view = int(view)

    def purge(self, gen: int) -> None:
        """Drop segments retired before ``gen``; confirmed by the next answer."""
        self._send(("purge", int(gen)))

    def merge_newer(self, gen: int) -> int:
        return int(self._request("merge_newer", int(gen)))

    def reload(self) -> None:
        """Nothing to read back: a writer's transaction that failed sent the worker nothing."""

    def stop(self) -> None:
        """Wait for the worker to finish what it was sent and let it go (kept for the next run); a
        worker that failed is ended, and the failure raised."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        if self._failure is None:
            try:
                self._worker = worker
                self._request("close")
                self._worker = None
                _idle.append(worker)
                return
            except SparseWorkerError:
                self._worker = None
        worker.kill()
        raise SparseWorkerError(self._failure or "the BM25 worker failed")

    def kill(self) -> None:
        """End the worker at once, whatever it was doing (the writer discards what was staged)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    # --- the socket --------------------------------------------------------------------------
    def _request(self, *message: Any) -> Any:
        self.settle_reads()
        self._send(message)
        return self._receive()

    def _send(self, message: tuple) -> None:
        self._check()
        try:
            self._worker.connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError as error:
            self._fail(f"the BM25 worker ended ({self._ended()}): {error}")

    def _receive(self) -> Any:
        self._check()
        try:
            status, value = pickle.loads(self._worker.connection.recv_bytes())
        except (EOFError, OSError) as error:
            self._fail(f"the BM25 worker ended ({self._ended()}): {error or 'no answer'}")
        if status == "error":
            self._fail(value)
        return value

    def _ended(self) -> str:
        code = self._worker.process.poll() if self._worker is not None else None
        return "still running" if code is None else f"exit status {code}"

    def _check(self) -> None:
        if self._failure is not None:
            raise SparseWorkerError(self._failure)
        if self._worker is None:
            raise SparseWorkerError("the BM25 worker was stopped")

    def _fail(self, reason: str) -> None:
        self._failure = f"the BM25 worker failed: {reason}; what was staged since the last commit is dropped"
        raise SparseWorkerError(self._failure)


# --- the worker process ------------------------------------------------------------------------
class _Served:
    """The worker's state while it serves one writer's run."""

    def __init__(self, path: str, view: int, writer_pid: int):
        from .sparse_tables import CollectionSparse
        from .store import ContentStore

        self.writer_pid = writer_pid
        self.store = ContentStore(Path(path))
        self.sparse = CollectionSparse(self.store, view)

    def write(self, work):
        """``work`` in one transaction holding SQLite's write lock, if the writer is still alive."""
        connection = self.store.connection
        with connection:
            connection.execute("BEGIN IMMEDIATE")
            if os.getppid() != self.writer_pid:
                raise RuntimeError("the writer that started this worker has ended")
            return work()

    def close(self) -> None:
        # Not ContentStore.close's WAL checkpoint: the writer's connection is open, and its close folds
        # the WAL into the file.
        self.store.connection.close()


def serve() -> None:
    """The worker's loop (``python -c ... serve() FD WRITER_PID``): answers until the socket closes."""
    # Ctrl-C reaches the whole process group: the writer decides (it stops or discards this worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    connection = Connection(int(sys.argv[1]))
    writer_pid = int(sys.argv[2])
    served: _Served | None = None
    failure: str | None = None  # a change's failure, reported at the next request
    precounted = None  # (rows, plan, counts) of the last precount
    # Received by a thread of their own: the writer's send returns while this loop still counts.
    received: queue.Queue = queue.Queue()
    threading.Thread(target=_receive_all, args=(connection, received), daemon=True).start()
    while True:
        data = received.get()
        if data is None:
            break
        message = pickle.loads(data)
        kind, arguments = message[0], message[1:]
        if kind == "precount":
            precounted = None
            if failure is None:
                try:
                    precounted = (arguments[0], *_count_as_new(served.sparse, arguments[0]))
                except Exception as error:  # noqa: BLE001 - reported to the writer
                    failure = _describe(error)
            continue
        if kind == "change":
            planned = None
            if failure is None:
                try:
                    guess, precounted = (precounted if arguments[2] else None), None
                    planned = _plan(served.sparse, *arguments[:2], guess)
                except Exception as error:  # noqa: BLE001 - reported to the writer
                    failure = _describe(error)
            connection.send_bytes(pickle.dumps(("read", None)))
            if planned is not None:
                try:
                    plan, counted = planned
                    if counted is None:  # before taking the write lock: the writer writes meanwhile
                        counted = served.sparse.count(plan)
                    served.write(lambda: served.sparse.write(plan, counted))
                except Exception as error:  # noqa: BLE001 - reported to the writer
                    failure = _describe(error)
            continue
        if kind in ("advance", "purge"):  # answered by the next request's answer
            if failure is None:
                try:
                    if kind == "advance":
                        served.sparse.advance(arguments[0])
                    else:
                        served.write(lambda: served.sparse.purge(arguments[0]))
                except Exception as error:  # noqa: BLE001 - reported to the writer
                    failure = _describe(error)
            continue
        try:
            if kind == "open":
                failure = None
                served = _Served(*arguments, writer_pid)
                answer = ("ok", None)
            elif failure is not None:
                answer = ("error", failure)
            elif kind == "sizes":
                answer = ("ok", served.sparse.sizes())
            elif kind == "merge_newer":
                answer = ("ok", served.write(lambda: served.sparse.merge_newer(arguments[0])))
            elif kind == "close":
                answer = ("ok", None)
            else:
                answer = ("error", f"unknown request {kind!r}")
        except Exception as error:  # noqa: BLE001 - reported to the writer
            failure = _describe(error)
            answer = ("error", failure)
        if kind == "close" and served is not None:
            served.close()
            served, failure = None, None
        connection.send_bytes(pickle.dumps(answer))


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
