"""One writer at a time: an exclusive, non-blocking file lock in the collection folder."""

from __future__ import annotations

from pathlib import Path

from ...errors import CollectionLockedError

LOCK_NAME = ".writer.lock"


class WriterLock:
    def __init__(self, folder: Path):
        from filelock import FileLock

        self.folder = folder
        self._lock = FileLock(str(folder / LOCK_NAME), timeout=0, thread_local=False, is_singleton=False)

    def acquire(self) -> None:
        from filelock import Timeout

        try:
            self._lock.acquire()
        except Timeout as error:
            raise CollectionLockedError(
                f"collection {str(self.folder)!r} is open for writing by another process or handle; "
                "only one writer at a time (open it read-only to search meanwhile)"
            ) from error

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()
