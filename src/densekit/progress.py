"""Progress reporting: library code calls a callback, the edges draw bars."""

from __future__ import annotations

from typing import Callable, Optional

# progress(done, total): called after each unit of work; total may be None when unknown.
ProgressCallback = Callable[[int, Optional[int]], None]


def report(progress: ProgressCallback | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)
