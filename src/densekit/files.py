"""Atomic file writes: write beside the target, fsync, rename. A crash leaves the old file or the new one."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable


def temporary_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def fsync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)``, fsync the result, then rename it over ``path``."""
    temporary = temporary_sibling(path)
    try:
        write(temporary)
        if temporary.is_dir():
            for child in temporary.rglob("*"):
                if child.is_file():
                    _fsync_file(child)
        else:
            _fsync_file(temporary)
        if temporary.is_dir() and path.is_dir():
            # Left by a save that failed before its manifest: nothing names it, so it can go.
            shutil.rmtree(path)
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_json_atomically(path: Path, value: Any) -> None:
    def write(target: Path) -> None:
        target.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    write_atomically(path, write)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


#: Bytes a large file write may leave unsynced before ``open_syncing`` flushes them to disk.
SYNC_EVERY = 32 << 20


class _SyncingFile:
    """A binary file that fsyncs every ``every`` bytes written. Without it a checkpoint of gigabytes
    is flushed in one go at its final fsync, and a concurrent commit's small fsync waits behind it
    (ext4 commits the journal for both): seconds. RocksDB's bytes_per_sync, for the same reason."""

    def __init__(self, path: Path, every: int):
        self._handle = open(path, "wb")
        self._every, self._unsynced = every, 0

    def write(self, data) -> int:
        written = self._handle.write(data)
        self._unsynced += written
        if self._unsynced >= self._every:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._unsynced = 0
        return written

    def __getattr__(self, name: str):
        return getattr(self._handle, name)

    def __enter__(self) -> "_SyncingFile":
        return self

    def __exit__(self, *exception) -> None:
        self._handle.close()


def open_syncing(path: Path, every: int = SYNC_EVERY) -> _SyncingFile:
    """Open ``path`` for writing, synced to disk every ``every`` bytes (for files of many MB)."""
    return _SyncingFile(path, every)
