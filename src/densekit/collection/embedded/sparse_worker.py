"""An index run's BM25, counted and written by a process of its own beside the writer (docs/storage.md).

BM25 is half of what `densekit index` costs beside encoding (counting the words of every chunk and
document, writing and merging their segments), and Python holds one core for both. During an index
run (``space.index_run``) the embedded writer hands each staged write's sparse change to this worker
instead: the worker owns the sparse tables' vocabulary and segments for the run, reads the rows the
writer staged, counts and writes the segments at the same staged generation in its own SQLite
transactions, and answers the writer at each commit, which publishes both together. Readers see
nothing of either until the manifest names the generation, as before.

Ordering: a change is sent after the writer's transaction that staged its rows, and the worker
answers "read" once it has read what the change needs from those rows (``CollectionSparse.plan``).
The writer's next write waits for that answer only when it touches a document of a change not read
yet (a document written in parts, a replaced one), or runs more than ``AHEAD`` changes ahead, so no
later write changes what a plan saw. Before encoding a batch the writer sends its texts ("precount"):
the worker counts them meanwhile as new documents, and uses those counts when the rows turn out to
be that (no other rows of their documents), or counts again from the rows. So the worker's counting
overlaps the writer's encoding, and a commit waits only for the last batch's segment writes.

Safety: a worker that fails (or ends) fails the writer's next call, and the writer drops what it
staged since its last commit (``EmbeddedWrites._discard_staged``), as a kill would. Each write
transaction of the worker first takes SQLite's write lock and then checks that the writer that
started it is still alive, so a worker outliving a killed writer never stages anything after the next
writer has discarded the killed one's staged generation.

``DENSEKIT_SPARSE_WORKER=0`` keeps BM25 in the writer's process (the choice on one CPU too), ``=1`` uses
the worker whatever the CPUs.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import pickle
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ...errors import CollectionError
from .sparse_worker_process import SparseRow, columns_of_rows


class SparseWorkerError(CollectionError):
    """The BM25 worker failed or ended: what the writer staged since its last commit is dropped."""


def wanted() -> bool:
    """Whether index runs count BM25 in a worker (``DENSEKIT_SPARSE_WORKER``): "0" never, "1" always
    (POSIX), unset when this process may use two CPUs or more (on one, it would only add its start)."""
    setting = os.environ.get("DENSEKIT_SPARSE_WORKER", "")
    if setting == "0" or os.name != "posix":
        return False
    if setting == "1":
        return True
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return cpus >= 2


def _row(item) -> SparseRow:
    return SparseRow(item.kind, item.text, item.parent, item.start, item.end)


def _rows(pairs: list[tuple[int, Any]]) -> list[tuple[int, SparseRow]]:
    return [(int(rowid), _row(item)) for rowid, item in pairs]


#: An index run hands its BM25 to a worker once it has written this share of the texts already indexed
#: (the worker's reading of the tables against the writer's own BM25 work, ``_worker_pays_off``).
PAYS_OFF_SHARE = 0.015

#: Changes the writer may send ahead of the worker's reads (each holds one write's texts in memory).
AHEAD = 4


class _Process:
    """A started worker process and its end of the socket."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        package_root = str(Path(__file__).resolve().parents[3])  # the densekit the writer runs
        code = (f"import sys; sys.path.insert(0, {package_root!r}); "
                "from densekit.collection.embedded.sparse_worker_process import serve; serve()")
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
_idle_owner = os.getpid()  # a forked child inherits the list, not the workers: they answer its parent


def _own_idle() -> list[_Process]:
    global _idle_owner
    if os.getpid() != _idle_owner:
        _idle.clear()
        _idle_owner = os.getpid()
    return _idle


@atexit.register
def _end_idle() -> None:
    """Idle workers end when their socket closes; closed here, and waited for, before this process ends."""
    idle = _own_idle()
    while idle:
        idle.pop().kill()


def prestart() -> None:
    """Start a worker now for an index run about to begin (``densekit index``): its start overlaps
    opening the collection and loading the model."""
    if wanted() and not _own_idle():
        _idle.append(_Process())


def _take() -> _Process:
    idle = _own_idle()
    while idle:
        worker = idle.pop()
        if worker.alive():
            return worker
        worker.kill()
    return _Process()


class SparseWorker:
    """The writer's side: what ``EmbeddedWrites`` calls on its sparse tables, answered by the worker.
    Every call but ``change`` waits for the worker's answer; a failure raises ``SparseWorkerError``
    from then on."""

    def __init__(self, path: Path, view: int, run_since: int | None = None):
        self.view = int(view)
        self._worker: _Process | None = _take()
        #: The parents of each change sent whose reads the worker has not confirmed yet, oldest first.
        self._unread: collections.deque[frozenset] = collections.deque()
        self._failure: str | None = None
        self._precounted: list | None = None  # the items of the last precount, not yet written
        self._owed = 1  # answers to requests sent without waiting ("open")
        # Answered with the next request: a worker starting (~0.3 s) overlaps the writer's first batch.
        try:
            with self._exchange():
                self._send(("open", str(Path(path).resolve()), self.view, run_since))  # a kept worker has its own directory
        except BaseException:
            self.kill()  # taken from the idle workers or started for this run: nobody else ends it
            raise

    # --- writes ------------------------------------------------------------------------------
    def precount(self, items: list) -> None:
        """Send the items of the writer's next write before it encodes them: the worker counts their
        words meanwhile, as new documents (row ids still unknown), and uses the counts if the write's
        rows turn out to be that (``change``), or counts again."""
        with self._exchange():
            self._precounted = list(items)
            self._send(("precount", columns_of_rows(items)))

    def change(self, added: list[tuple[int, Any]], removed: list[tuple[int, Any]]) -> None:
        """Send a change whose rows the writer's transaction has just committed (staged): only their
        row ids when they are the items last sent by ``precount``."""
        parents = frozenset(item.parent for _, item in added + removed if item.parent is not None)
        counted, self._precounted = self._precounted, None
        with self._exchange():
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
        with self._exchange():
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
        with self._exchange():
            self._send(("advance", int(view)))
            self.view = int(view)

    def purge(self, gen: int) -> None:
        """Drop segments retired before ``gen`` (a failure there is the next purge's to retry, as the
        writer's own purge after a commit point is)."""
        with self._exchange():
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
                _own_idle().append(worker)
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
        with self._exchange():
            self._send(message)
            return self._receive()

    @contextlib.contextmanager
    def _exchange(self):
        """A message sent or an answer taken, with the bookkeeping that goes with it, as one step. An
        exception inside other than the worker's own failure (Ctrl-C mid-message, or between a request
        and its answer) leaves the two sides out of step: the worker is failed from then on, never
        kept for another run (it would answer each request with the answer to the one before)."""
        try:
            yield
        except SparseWorkerError:
            raise
        except BaseException:
            if self._failure is None:
                self._failure = "the BM25 worker's exchange was interrupted"
            raise

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
