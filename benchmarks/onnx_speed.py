"""ONNX Runtime encoders (fp32, int8 per-token = the default, older dynamic int8) against torch: speed
on short and long texts, STS-B quality, and the thread / spinning settings behind densekit's ONNX defaults.

Every variant runs on the same texts in one process, interleaved (the order rotates each round),
repeated; the tables show medians, and "x plain" is the median of per-round ratios against plain
SentenceTransformer.encode (on a shared machine load drifts between rounds more than within one).

Texts: short = 1,024 distinct STS-B sentences (dev, then train); long = Quoref passages cut at 250
model tokens. Quality = STS-B dev Spearman x100 per backend.

The thread sweep runs each cell in a fresh process (OMP_WAIT_POLICY and ONNX Runtime's thread pool
are fixed at start): ONNX int8 with 1 or 2 intra-op threads, spinning on or off.

    .venv/bin/python benchmarks/onnx_speed.py --quick
    .venv/bin/python benchmarks/onnx_speed.py --models minilm mpnet --repeats 5
    .venv/bin/python benchmarks/onnx_speed.py --backends onnx-int8-row onnx-int8 --no-sweep
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2"}


def sts_sentences(count: int) -> list[str]:
    from densekit.bench import short_texts

    texts = short_texts(count, DATA / "stsb" / "sts-dev.csv")
    if len(texts) < count:
        extra = short_texts(count * 2, DATA / "stsb" / "sts-train.csv")
        texts = list(dict.fromkeys(texts + extra))[:count]
    return texts


def run_comparison(args) -> None:
    from densekit.bench import BASELINE, load_variants, long_texts, measure, quality_check, sts_quality

    for key in args.models:
        started = time.time()
        variants = load_variants(MODELS[key], args.backends, args.threads)
        rows = []
        long_count = args.long if key == "minilm" else args.long_mpnet
        sets = [("short", sts_sentences(args.short))]
        if long_count:
            sets.append(("long", long_texts(long_count, variants[BASELINE], 250, DATA / "quoref" / "passages.jsonl")))
        for label, texts in sets:
            rows.extend(measure(variants, texts, label, args.repeats, args.batch_size))
            print(f"  done {key} {label} ({time.time() - started:.0f}s)", file=sys.stderr, flush=True)
        scores = sts_quality(variants, DATA / "stsb" / "sts-dev.csv") if not args.no_quality else {}
        passed = quality_check(scores)
        print(f"\n{MODELS[key]}: sentences/s and tokens/s, median of {args.repeats} interleaved rounds, "
              f"{args.threads or 'default'} thread(s), batch {args.batch_size}")
        print(f"{'backend':<10} {'texts':<6} {'n':>5} {'tok/text':>8} {'sent/s':>8} {'tok/s':>8} {'x plain':>8} "
              f"{'STS-B dev':>9}  per-round sent/s")
        for row in rows:
            score = scores.get(row.backend)
            quality = f"{score:9.2f}" if score is not None and row.texts == "short" else " " * 9
            flag = " DROP>0.5" if row.texts == "short" and passed.get(row.backend) is False else ""
            rounds = " ".join(f"{rate:.1f}" for rate in row.rates)
            print(f"{'plain ST' if row.backend == BASELINE else row.backend:<10} {row.texts:<6} {row.count:>5} "
                  f"{row.tokens_per_text:>8.0f} {row.sentences_per_second:>8.1f} {row.tokens_per_second:>8.0f} "
                  f"{row.ratio:>8.2f} {quality}{flag}  {rounds}")
        if args.json_out:
            with open(args.json_out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"model": key, "rows": [row.__dict__ for row in rows], "sts": scores}) + "\n")


def sweep_worker(args) -> None:
    """One sweep cell, in a fresh process."""
    from densekit.encoders.onnx import OnnxEncoder

    encoder = OnnxEncoder(MODELS[args.models[0]], quantize="int8-row", threads=args.threads, spinning=args.spinning == "on")
    texts = sts_sentences(args.short)
    encoder.encode(texts[:32])
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        encoder.encode(texts, batch_size=args.batch_size)
        rates.append(len(texts) / (time.perf_counter() - start))
    print(json.dumps({"rate": statistics.median(rates)}))


def run_sweep(args) -> None:
    cells = [(threads, spinning) for threads in (1, 2) for spinning in ("off", "on")]
    rates: dict[tuple, list[float]] = {cell: [] for cell in cells}
    for round_number in range(args.sweep_rounds):
        for threads, spinning in cells if round_number % 2 == 0 else list(reversed(cells)):
            command = [sys.executable, __file__, "--sweep-worker", "--threads", str(threads), "--spinning", spinning,
                       "--models", args.models[0], "--short", str(args.sweep_short), "--repeats", str(args.repeats),
                       "--batch-size", str(args.batch_size)]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            rates[(threads, spinning)].append(json.loads(output.stdout.strip().splitlines()[-1])["rate"])
            print(f"  done sweep {threads} {spinning}", file=sys.stderr, flush=True)
    base = statistics.median(rates[(1, "off")])
    print(f"\nONNX int8 (per-token) thread sweep: {args.models[0]}, {args.sweep_short} short texts, sentences/s "
          f"(median over {args.sweep_rounds} processes x {args.repeats} runs), cores={os.cpu_count()}")
    print(f"{'threads':>7} {'spinning':<8} {'rate':>8} {'vs 1/off':>8}  per-process")
    for threads, spinning in cells:
        values = rates[(threads, spinning)]
        print(f"{threads:>7} {spinning:<8} {statistics.median(values):>8.1f} {statistics.median(values) / base:>8.2f}  "
              + " ".join(f"{value:.1f}" for value in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["minilm"])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "onnx-int8-row", "onnx-int8"],
                        help="text-model backends to compare with plain SentenceTransformer.encode")
    parser.add_argument("--short", type=int, default=1024)
    parser.add_argument("--long", type=int, default=64, help="~250-token Quoref passages for MiniLM")
    parser.add_argument("--long-mpnet", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: densekit's choice for this machine")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-quality", action="store_true", help="skip STS-B dev Spearman")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--sweep-only", action="store_true")
    parser.add_argument("--sweep-rounds", type=int, default=2)
    parser.add_argument("--sweep-short", type=int, default=512)
    parser.add_argument("--json-out", help="append raw results (JSON lines) here")
    parser.add_argument("--quick", action="store_true", help="fewer texts, one sweep round")
    parser.add_argument("--sweep-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--spinning", choices=["on", "off"], default="off", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_worker:
        sweep_worker(args)
        return
    if args.quick:
        args.short, args.long, args.long_mpnet, args.sweep_rounds, args.sweep_short = 256, 16, 4, 1, 256
    if not args.sweep_only:
        run_comparison(args)
    if not args.no_sweep:
        args.models = ["minilm"]
        run_sweep(args)


if __name__ == "__main__":
    main()
