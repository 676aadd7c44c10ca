"""The server's malloc arena cap: set before request threads start, and the user's MALLOC_ARENA_MAX wins."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from densekit.server.memory import limit_malloc_arenas

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="malloc arenas are glibc's"
)

# Eight threads hold allocations at once; glibc's malloc_stats then prints one "Arena N:" per arena.
COUNT_ARENAS = r"""
import ctypes, sys, threading
from densekit.server.memory import limit_malloc_arenas
applied = limit_malloc_arenas() if sys.argv[1] == "limit" else None
barrier = threading.Barrier(9)
def work():
    held = [bytearray(4096) for _ in range(100)]
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads:
    thread.start()
barrier.wait()
ctypes.CDLL(None).malloc_stats()
barrier.wait()
for thread in threads:
    thread.join()
print(applied)
"""


def arenas_used(mode: str, **environment: str) -> tuple[int, str]:
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    finished = subprocess.run([sys.executable, "-c", COUNT_ARENAS, mode], capture_output=True, text=True,
                              env={**env, **environment}, timeout=60, check=True)
    return sum(line.startswith("Arena ") for line in finished.stderr.splitlines()), finished.stdout.strip()


def test_limit_caps_the_arenas_threads_get():
    unlimited, _ = arenas_used("none")
    limited, applied = arenas_used("limit")
    assert applied == "True"
    assert limited == 2 < unlimited


def test_users_malloc_arena_max_is_left_alone(monkeypatch):
    count, applied = arenas_used("limit", MALLOC_ARENA_MAX="3")
    assert applied == "False" and count == 3
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False
