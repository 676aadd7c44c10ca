"""Torch thread settings, tuned for small shared CPU machines.

Thread count is a tuned parameter (shared/MODELS.md): on a busy 2-core machine torch with 2 threads
ran 4-8x slower than with 1, because OpenMP workers spin-wait for work instead of sleeping and
steal the core that the other thread (or another process) needs. Two defences:

- ``OMP_WAIT_POLICY=PASSIVE`` makes idle OpenMP workers sleep. The OpenMP runtime reads it once,
  when torch is first imported, so it must be in ``os.environ`` before that import.
- the default thread count leaves headroom: 1 thread on machines with <= 2 cores, else half the
  cores (benchmarks/encode_speed.py --threads-sweep measures the trade-off).
"""

from __future__ import annotations

import os
import sys

from .. import config

_configured: int | None = None


def available_cores() -> int:
    """CPU cores this process may run on (respects affinity masks / container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads() -> int:
    """DENSEKIT_THREADS if set, else 1 on <= 2 cores (spin-waiting costs more than the 2nd core gives), else cores // 2."""
    configured = config.torch_threads()
    if configured:
        return configured
    cores = available_cores()
    return 1 if cores <= 2 else cores // 2


def set_passive_wait_policy() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose a policy; True if it can still take effect."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules


def configure_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count; the default is applied once per process.

    Args:
        threads: explicit count (always applied); None applies ``default_threads()`` the first
            time and leaves later calls alone, so a user's own ``torch.set_num_threads`` survives.

    Returns:
        The thread count torch now uses.

    Example:
        >>> configure_torch_threads(1)
        1
    """
    global _configured
    if threads is not None and threads < 1:
        from ..errors import InvalidInputError

        raise InvalidInputError(f"threads must be >= 1, got {threads}")
    set_passive_wait_policy()
    import torch

    if threads is None:
        if _configured is not None:
            return torch.get_num_threads()
        threads = default_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    _configured = threads
    return threads
