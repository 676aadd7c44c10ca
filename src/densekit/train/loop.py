"""The optimisation loop both trainers share: loss, clip, step, schedule, log, stop on steps, time or Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from ..progress import ProgressCallback, report


@dataclass
class LoopResult:
    steps: int
    examples: int
    seconds: float
    recent_loss: float  # mean of the last 20 steps
    interrupted: bool = False  # stopped by Ctrl-C (SIGINT) after a whole step


class StopFlag:
    """Set by the first SIGINT; the loop finishes its step, stops, and the trainer saves."""

    def __init__(self) -> None:
        self.raised = False


@contextlib.contextmanager
def stop_on_interrupt(on_interrupt: Callable[[], None] | None = None) -> Iterator[StopFlag]:
    """While active, the first Ctrl-C asks the loop to stop after the current step (so the model
    so far can be saved whole); a second Ctrl-C interrupts at once, as usual.

    ``on_interrupt()`` is called at the first Ctrl-C (the CLI says the step will finish and be saved).
    Only the main thread can own signal handlers; elsewhere the flag is never set.
    """
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def first_interrupt(signum, frame) -> None:
        flag.raised = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next Ctrl-C raises KeyboardInterrupt
        if on_interrupt is not None:
            on_interrupt()

    signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


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
    on_interrupt: Callable[[], None] | None = None,
) -> LoopResult:
    """Train until ``total`` steps, ``epochs`` passes, ``max_minutes`` or Ctrl-C, whichever comes first.

    ``epoch_batches()`` yields one epoch's batches; ``batch_loss(batch)`` returns (loss tensor, examples).
    On Ctrl-C the current step completes and the result says ``interrupted``, so the caller saves a
    whole model rather than one caught between two optimizer updates.
    """
    import torch

    started = time.perf_counter()
    step, examples, recent = 0, 0, []

    def result(interrupted: bool = False) -> LoopResult:
        return LoopResult(step, examples, time.perf_counter() - started, sum(recent) / max(len(recent), 1), interrupted)

    report(progress, 0, total)
    with stop_on_interrupt(on_interrupt) as stop:
        for _ in range(epochs):
            for batch in epoch_batches():
                if stop.raised:
                    return result(interrupted=True)
                loss, count = batch_loss(batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad(set_to_none=True)
                value = float(loss.detach())
                del loss  # drop the step's autograd graph before the next batch is built
                step += 1
                examples += count
                recent = (recent + [value])[-20:]
                elapsed = time.perf_counter() - started
                if log is not None:
                    log({"step": step, "loss": value, "examples_per_second": examples / elapsed})
                report(progress, step, total)
                if step >= total or (max_minutes is not None and elapsed > max_minutes * 60):
                    return result()
        return result(interrupted=stop.raised)
