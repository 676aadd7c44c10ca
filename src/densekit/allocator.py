"""Giving freed memory back to the system after a phase that freed a lot (glibc's ``malloc_trim``).

glibc keeps what small and mid-sized allocations free in its heap for reuse, and its threshold for
giving a block its own mapping rises (up to 32 MiB) each time such a block is freed, so arrays of
a few MB land in the heap too. The heap shrinks only from its top: a long ingest that frees tens
of MB at a time in its middle (a write's word counts, a merge's arrays, the flat index replaced
by HNSW) keeps them resident, and the next phase's transients land on top. ``malloc_trim`` returns
every free page wherever it lies; it costs a walk of the heap's free chunks (milliseconds).
Measured with benchmarks/ingest_memory.py (docs/input.md, "Memory for one input").
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    # Only glibc has gnu_get_libc_version; musl and macOS have no malloc_trim (nothing to do there).
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "malloc_trim"):
        return None
    function = libc.malloc_trim
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


def return_free_memory() -> bool:
    """Give the pages malloc holds free back to the system.

    Returns:
        True if memory was returned; False if there was none to return, or no glibc.

    Example:
        >>> return_free_memory()  # on glibc Linux, after freeing many mid-sized blocks
        True
    """
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
