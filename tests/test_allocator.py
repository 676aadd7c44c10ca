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
