"""Peak memory (RSS) of `densekit train retriever|reader` per batch size, with and without
gradient checkpointing.

Each run is a fresh subprocess (peak RSS is per process) training a few steps on Quoref from the
packaged all-MiniLM-L6-v2; the table shows the peak RSS after each step, seconds, and the last
loss (equal with and without checkpointing: the same arithmetic, recomputed).

    .venv/bin/python benchmarks/train_memory.py --batch-sizes 8 16 32 --steps 3
    .venv/bin/python benchmarks/train_memory.py --trainer reader --batch-sizes 16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "quoref"

RUN = r"""
import json, resource, sys, tempfile, time
trainer, batch, steps, checkpointing, data = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
peaks = []
def log(entry):
    peaks.append(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
with tempfile.TemporaryDirectory() as out:
    started = time.perf_counter()
    if trainer == "retriever":
        from densekit.train.retriever import load_pairs, train_retriever
        report = train_retriever(load_pairs(data, split="train"), "all-MiniLM-L6-v2", out, batch_size=batch,
                                 max_steps=steps, gradient_checkpointing=checkpointing, log=log)
    else:
        from densekit.train.reader import load_examples, train_reader
        examples, _ = load_examples(data, split="train")
        report = train_reader(examples[:2000], "all-MiniLM-L6-v2", out, batch_size=batch, max_steps=steps,
                              gradient_checkpointing=checkpointing, log=log)
    print(json.dumps({"peaks": peaks, "seconds": time.perf_counter() - started, "loss": report.final_loss}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainer", choices=["retriever", "reader"], default="retriever")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--steps", type=int, default=3)
    arguments = parser.parse_args()
    print(f"{arguments.trainer}, all-MiniLM-L6-v2, {arguments.steps} steps on Quoref train")
    print(f"{'batch':>5} {'checkpointing':>13} {'peak RSS MB per step':>28} {'seconds':>8} {'loss':>8}")
    for batch in arguments.batch_sizes:
        for checkpointing in (False, True):  # the same batch size back to back: comparable machine load
            completed = subprocess.run(
                [sys.executable, "-c", RUN, arguments.trainer, str(batch), str(arguments.steps), str(int(checkpointing)), str(DATA)],
                capture_output=True, text=True, check=True,
            )
            row = json.loads(completed.stdout.strip().splitlines()[-1])
            print(f"{batch:>5} {'on' if checkpointing else 'off':>13} {str(row['peaks']):>28} {row['seconds']:8.0f} {row['loss']:8.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
