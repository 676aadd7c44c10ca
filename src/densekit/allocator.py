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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


@functools.lru_cache(maxsize=1)
def _mallinfo2() -> Any:
    try:
        function = ctypes.CDLL(None).mallinfo2  # glibc 2.33 and later
    except (OSError, AttributeError):
        return None
    function.argtypes = []
    function.restype = _MallInfo2
    return function


def free_heap_bytes() -> int | None:
    """Bytes malloc holds free in its heaps (all arenas), or None where glibc cannot say. Pages a
    trim returned still count (their chunks stay free in malloc's bins)."""
    info = _mallinfo2()
    return None if info is None else int(info().fordblks)


# Free bytes malloc held right after the last trim (returned pages included: glibc cannot say which
# are resident), the baseline ``keep`` counts from. Memory later taken from those chunks and freed
# again is not counted again: it is what the next write reuses, and never more than was resident.
_held_after_trim = 0


def return_free_memory(keep: int = 0) -> bool:
    """Give the pages malloc holds free back to the system.

    Args:
        keep: return nothing while malloc holds at most this many bytes more free than it did
            right after the last trim (``free_heap_bytes``). The pages a trim returns
            are faulted in again by the next allocations that land there: after every 512-chunk
            write of an index run that cost 0.07 s of 0.3 s of hashing encoding, for a few MB.

    Returns:
        True if memory was returned; False if there was none to return (or at most ``keep``), or
        no glibc.

    Example:
        >>> return_free_memory()  # on glibc Linux, after freeing many mid-sized blocks
        True
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    global _held_after_trim
    if keep and (free := free_heap_bytes()) is not None and free - _held_after_trim <= keep:
        return False
    returned = bool(trim(0))
    _held_after_trim = free_heap_bytes() or 0
    return returned
