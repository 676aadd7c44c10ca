"""Batch budgets for the ONNX encoders: attention cells (texts x tokens^2) per model call.

Long texts in batches of 32 make attention scores far larger than the CPU caches (32 passages of
252 tokens: 97 MB per layer); a budget splits them into small batches while sentences keep 32 a
batch. Each budget runs on the same texts in one process, interleaved (the order rotates each
round); the table shows sentences/s and the ratio to plain batches of 32 (budget "none"), medians.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/onnx_batching.py --model all-MiniLM-L6-v2
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/onnx_batching.py --model all-mpnet-base-v2 --short 256 --long 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    from densekit.bench import long_texts, short_texts
    from densekit.encoders.onnx import OnnxEncoder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--short", type=int, default=1024, help="STS-B dev sentences")
    parser.add_argument("--long", type=int, default=32, help="Quoref passages cut at 250 tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budgets", type=int, nargs="+", default=[2**16, 2**17, 2**18, 2**19])
    args = parser.parse_args()

    encoders = {"int8": OnnxEncoder(args.model, quantize="int8", threads=1), "fp32": OnnxEncoder(args.model, threads=1)}
    sets = {
        "short": short_texts(args.short, DATA / "stsb" / "sts-dev.csv"),
        "long": long_texts(args.long, encoders["fp32"], 250, DATA / "quoref" / "passages.jsonl"),
    }
    budgets: list[int | None] = [None, *args.budgets]
    print(f"{args.model}: sentences/s (x batches of 32 without a budget), median of {args.repeats} interleaved rounds, 1 thread")
    for label, texts in sets.items():
        for name, encoder in encoders.items():
            times: dict[int | None, list[float]] = {budget: [] for budget in budgets}
            for round_ in range(args.repeats):
                shift = round_ % len(budgets)
                for budget in budgets[shift:] + budgets[:shift]:
                    encoder.batch_cells = budget
                    started = time.perf_counter()
                    encoder.encode(texts, batch_size=32)
                    times[budget].append(time.perf_counter() - started)
            plain = statistics.median(times[None])
            cells = [
                f"{budget or 'none'}: {len(texts) / statistics.median(times[budget]):.1f}/s ({plain / statistics.median(times[budget]):.2f}x)"
                for budget in budgets
            ]
            print(f"{label:5} {name}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
