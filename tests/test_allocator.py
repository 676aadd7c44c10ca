"""return_free_memory: pages malloc keeps after frees in the middle of its heap go back to the system."""

from __future__ import annotations

import ctypes

import pytest

from densekit.allocator import return_free_memory


def resident_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def glibc() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "gnu_get_libc_version")
    except OSError:
        return False


@pytest.mark.skipif(not glibc(), reason="malloc_trim is glibc's")
def test_freed_blocks_below_the_heap_top_are_returned():
    # 64 KB blocks (below glibc's mmap threshold: they live in the heap), every one freed but the
    # last, which pins the heap's top: without trimming, none of the 64 MB goes back.
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(1024)]
    for block in blocks:
        ctypes.memset(block, 1, len(block))
    pinned = blocks.pop()
    del blocks
    before = resident_bytes()
    assert return_free_memory()
    assert before - resident_bytes() > 32 * 2**20
    assert pinned.raw[:1] == b"\x01"


def test_without_glibc_nothing_is_done(monkeypatch):
    import densekit.allocator as allocator

    monkeypatch.setattr(allocator, "_malloc_trim", lambda: None)
    assert allocator.return_free_memory() is False


@pytest.mark.skipif(not glibc(), reason="mallinfo2 is glibc's")
def test_free_heap_bytes_counts_what_was_freed():
    from densekit.allocator import free_heap_bytes

    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(1024)]
    pinned = blocks.pop()
    held = free_heap_bytes()  # the blocks may reuse free chunks other tests left: measured after them
    del blocks
    assert free_heap_bytes() - held > 60 * 2**20
    assert pinned.raw[:1] == b"\x00"


def test_keep_trims_only_once_more_than_keep_was_freed_since_the_last_trim(monkeypatch):
    import densekit.allocator as allocator

    trims, free = [], [100 * 2**20]
    monkeypatch.setattr(allocator, "_malloc_trim", lambda: lambda pad: trims.append(pad) or 1)
    monkeypatch.setattr(allocator, "free_heap_bytes", lambda: free[0])
    monkeypatch.setattr(allocator, "_held_after_trim", 0)
    assert allocator.return_free_memory() and len(trims) == 1  # keep=0: always; 100 MB held after it
    free[0] += 16 * 2**20
    assert allocator.return_free_memory(keep=16 * 2**20) is False and len(trims) == 1  # not more than keep
    free[0] += 1
    assert allocator.return_free_memory(keep=16 * 2**20) and len(trims) == 2
    free[0] += 2**20  # counted from what the last trim left
    assert allocator.return_free_memory(keep=16 * 2**20) is False and len(trims) == 2
    monkeypatch.setattr(allocator, "free_heap_bytes", lambda: None)  # no mallinfo2 (glibc before 2.33)
    assert allocator.return_free_memory(keep=16 * 2**20) and len(trims) == 3
