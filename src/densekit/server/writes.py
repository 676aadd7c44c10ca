"""Group commit: one writer per collection, held open by the service, and one commit for every write
request that arrived while the previous commit ran.

A route prepares its change (texts validated and encoded in its own thread, where the shared
models batch concurrent requests) and hands ``GroupWriter.submit`` a function that applies it to the
writer handle. One thread per collection takes every waiting request, applies them all inside one
``Collection.transaction()`` and commits once; each request is answered only after that commit
returned, so every acknowledged write is durable. A request whose change fails (an id already
present, say) fails alone: the transaction drops the group's staged changes and the others are
applied again without it. A failed commit (a full disk) fails the whole group and the writer handle
is closed, so nothing it still held is committed later. The writer closes after ``idle_seconds``
without writes, releasing the collection's writer lock for other processes (``densekit index``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CollectionError, InvalidInputError

if TYPE_CHECKING:
    from ..collection import Collection

#: Items one group may hold before the requests still waiting go into the next commit.
MAX_GROUP_ITEMS = 4096
#: After taking the waiting requests, wait this share of the last commit's time (at most
#: ``MAX_LINGER`` seconds) for more: clients answered by the last commit are sending their next
#: writes right now, and without it they would trickle into alternately big and tiny groups.
LINGER_SHARE = 0.1
MAX_LINGER = 0.05
_STOP = object()
_log = logging.getLogger("densekit.server")


class _Request:
    def __init__(self, change: Callable[["Collection"], Any], items: int):
        self.change = change
        self.items = items
        self.done = threading.Event()
        self.result: Any = None
        self.count: int | None = None
        self.error: BaseException | None = None

    def succeed(self, result: Any, count: int) -> None:
        self.result, self.count = result, count
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class GroupWriter:
    """Applies write requests to one collection in groups, one commit per group.

    Args:
        open_writer: opens the collection for writing (the registry's, with the server's models).
        idle_seconds: close the writer after this long without a write.
        name: the collection's name, for messages.

    Example:
        >>> writes = GroupWriter(lambda: Collection.open("notes"), idle_seconds=2.0, name="notes")
        >>> ids, count = writes.submit(lambda notes: notes.add(["a new note"]))
    """

    def __init__(self, open_writer: Callable[[], "Collection"], *, idle_seconds: float = 2.0, name: str = ""):
        self._open_writer = open_writer
        self._idle_seconds = idle_seconds
        self._name = name
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._writer: "Collection | None" = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._last_commit_seconds = 0.0
        self._stale = False
        #: Requests acknowledged, commits made, and the largest group one commit acknowledged.
        self.acknowledged = 0
        self.commits = 0
        self.largest_group = 0

    def submit(self, change: Callable[["Collection"], Any], items: int = 1) -> tuple[Any, int | None]:
        """Apply ``change(writer)`` in the next group; returns its result and the collection's count
        after the commit that made it durable (None if counting failed), or raises the error of the
        change or of that commit. ``items``: how many items the change writes (bounds a group)."""
        request = _Request(change, items)
        with self._start_lock:
            if self._closed:
                raise CollectionError(f"collection {self._name!r} is closing; the write was not applied")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"densekit-writer-{self._name}", daemon=True)
                self._thread.start()
            self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result, request.count

    def retire(self) -> None:
        """A model the writer's spaces use was released: open a new writer for the next group."""
        self._stale = True

    def close(self) -> None:
        """Finish the requests already queued, then close the writer."""
        with self._start_lock:
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join()
        self._close_writer()

    # --- the writer thread ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._idle_seconds)
            except queue.Empty:
                self._close_writer()  # idle: let other processes write
                continue
            if first is _STOP:
                return
            group, items, stopping = [first], first.items, False
            deadline = time.monotonic() + min(MAX_LINGER, LINGER_SHARE * self._last_commit_seconds)
            while items < MAX_GROUP_ITEMS:
                try:
                    following = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if following is _STOP:
                    stopping = True
                    break
                group.append(following)
                items += following.items
            try:
                self._apply(group)
            except BaseException as error:  # never leave a request waiting, whatever happened
                _log.error("group commit on %r failed unexpectedly", self._name, exc_info=error)
                self._close_writer()
                for request in group:
                    if not request.done.is_set():
                        request.fail(error)
            if stopping:
                return

    def _apply(self, group: list[_Request]) -> None:
        if self._stale:
            self._stale = False
            self._close_writer()
        pending = list(group)
        while pending:
            try:
                writer = self._writer or self._open_writer()
            except Exception as error:  # e.g. another process holds the writer lock
                for request in pending:
                    request.fail(error)
                return
            self._writer = writer
            culprit: tuple[_Request, Exception] | None = None
            applied: list[tuple[_Request, Any]] = []
            started = time.monotonic()
            try:
                with writer.transaction():
                    for request in pending:
                        staged = getattr(writer, "staged_writes", None)
                        try:
                            applied.append((request, request.change(writer)))
                        except InvalidInputError as error:
                            if staged is not None and writer.staged_writes == staged:
                                # Refused before it staged anything (an id already there): the group
                                # goes on. Undone, the embedded handle reloads its indexes each time.
                                request.fail(error)
                                continue
                            culprit = (request, error)
                            raise
                        except Exception as error:
                            culprit = (request, error)
                            raise
            except Exception as error:
                if culprit is not None and error is culprit[1]:
                    # Only this request's change failed; the transaction dropped the group's staged
                    # changes, so the others are applied again without it.
                    culprit[0].fail(error)
                    pending = [request for request in pending if not request.done.is_set()]
                    continue
                self._close_writer()  # the commit failed: drop whatever the handle still holds
                for request in pending:
                    if not request.done.is_set():  # not those refused on their own before
                        request.fail(error)
                return
            if not applied:  # every request was refused: nothing was committed
                return
            self._last_commit_seconds = time.monotonic() - started
            try:
                count = writer.count()
            except Exception as error:  # committed all the same: the writes are acknowledged
                _log.warning("counting %r after a commit failed: %s", self._name, error)
                count = None
            self.commits += 1
            self.acknowledged += len(applied)
            self.largest_group = max(self.largest_group, len(applied))
            for request, result in applied:
                request.succeed(result, count)
            return

    def _close_writer(self) -> None:
        writer = self._writer
        if writer is not None:
            try:
                writer.close()
            except Exception as error:  # closing must not stop the writer thread
                _log.warning("closing the writer of %r failed: %s", self._name, error)
            self._writer = None
