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
