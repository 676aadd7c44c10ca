"""The CLI's edge: errors become one line on stderr and exit code 2, never a traceback.

A missing model is the one exception to "one line": a second line, ``fix: ...``, says how to get it.

Besides densekit's own errors, whole classes that come from the world rather than from a bug are
translated: the operating system's (a file where a folder should be, a read-only mount, no space,
no permission), SQLite's and PostgreSQL's (permission denied, the server gone), and running out of
memory. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sqlite3
import sys

#: Set by ``densekit --verbose``: errors add their details (a missing model's searched places).
VERBOSE = False

_OS_HINTS = {
    errno.ENOTDIR: "a file is in the way where a folder is needed",
    errno.EROFS: "the file system is read-only; commands that write (index, delete, copy, ...) need a writable folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EISDIR: "a folder is in the way where a file is needed",
    errno.ENOENT: "no such file or folder",
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _describe_os_error(error: OSError) -> str:
    hint = _OS_HINTS.get(error.errno or 0) or (error.strerror or type(error).__name__)
    where = f"{str(error.filename)!r}: " if error.filename is not None else ""
    if error.filename2 is not None:
        where = f"{str(error.filename)!r} -> {str(error.filename2)!r}: "
    return f"{where}{hint}"


def _describe_postgres_error(error: BaseException) -> str | None:
    psycopg = sys.modules.get("psycopg")  # only loaded when a PostgreSQL store was used
    if psycopg is None or not isinstance(error, psycopg.Error):
        return None
    first_line = _one_line(str(error).splitlines()[0] if str(error) else type(error).__name__)
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return f"PostgreSQL refused: {first_line} (the role needs privileges on the collection's tables)"
    if isinstance(error, psycopg.OperationalError):
        return f"PostgreSQL connection failed or was lost: {first_line}"
    return f"PostgreSQL error ({type(error).__name__}): {first_line}"


def describe(error: BaseException, verbose: bool = False) -> str | None:
    """The message for an error the CLI reports without a traceback, else None: one line, or two
    for a missing model (what is missing, then how to fix it); ``verbose`` adds the places searched.

    Example:
        >>> describe(NotADirectoryError(20, "Not a directory", "notes/content.sqlite"))
        "'notes/content.sqlite': a file is in the way where a folder is needed"
    """
    from ..errors import DensekitError, ModelNotFoundError

    if isinstance(error, ModelNotFoundError) and verbose:
        return error.detailed()
    if isinstance(error, DensekitError):
        return str(error)
    if isinstance(error, OSError):
        return _describe_os_error(error)
    if isinstance(error, sqlite3.Error):
        return f"SQLite error: {_one_line(error)}"
    if isinstance(error, MemoryError):
        return "out of memory; try a smaller batch or input"
    return _describe_postgres_error(error)
