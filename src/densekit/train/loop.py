"""The optimisation loop both trainers share: loss, clip, step, schedule, log, stop on steps or time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..progress import ProgressCallback, report


@dataclass
class LoopResult:
    steps: int
    examples: int
    seconds: float
    recent_loss: float  # mean of the last 20 steps


def run_steps(
    epoch_batches: Callable[[], Iterable[Any]],
    batch_loss: Callable[[Any], tuple[Any, int]],
    parameters: list,
    optimizer: Any,
    schedule: Any,
    *,
    epochs: int,
    total: int,
    max_minutes: float | None,
    progress: ProgressCallback | None,
    log: Callable[[dict], None] | None,
) -> LoopResult:
    """Train until ``total`` steps, ``epochs`` passes or ``max_minutes``, whichever comes first.

    ``epoch_batches()`` yields one epoch's batches; ``batch_loss(batch)`` returns (loss tensor, examples).
    """
    import torch

    started = time.perf_counter()
    step, examples, recent = 0, 0, []
    report(progress, 0, total)
    for _ in range(epochs):
        for batch in epoch_batches():
            loss, count = batch_loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            examples += count
            recent = (recent + [float(loss.detach())])[-20:]
            elapsed = time.perf_counter() - started
            if log is not None:
                log({"step": step, "loss": float(loss.detach()), "examples_per_second": examples / elapsed})
            report(progress, step, total)
            if step >= total or (max_minutes is not None and elapsed > max_minutes * 60):
                return LoopResult(step, examples, time.perf_counter() - started, sum(recent) / len(recent))
    return LoopResult(step, examples, time.perf_counter() - started, sum(recent) / max(len(recent), 1))
