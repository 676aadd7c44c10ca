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


def free_below_a_pinned_top(megabytes: int):
    """Frees ``megabytes`` MB of 64 KB heap blocks under one kept block (returned)."""
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(megabytes * 16)]
    for block in blocks:
        ctypes.memset(block, 1, len(block))
    pinned = blocks.pop()
    del blocks
    return pinned


@pytest.mark.skipif(not glibc(), reason="malloc_trim is glibc's")
def test_keep_returns_nothing_until_more_than_keep_was_freed_since_the_last_trim():
    from densekit.allocator import free_heap_bytes

    return_free_memory()  # the baseline: what malloc holds free that no trim can return
    small = free_below_a_pinned_top(8)
    before = resident_bytes()
    assert return_free_memory(keep=16 * 2**20) is False  # 8 MB freed since: kept for reuse
    assert before - resident_bytes() < 2**20
    large = free_below_a_pinned_top(64)
    assert free_heap_bytes() > 64 * 2**20
    before = resident_bytes()
    assert return_free_memory(keep=16 * 2**20)  # 72 MB freed since the last trim
    assert before - resident_bytes() > 32 * 2**20
    assert small.raw[:1] == large.raw[:1] == b"\x01"
