"""Encoding speed: densekit's SentenceEncoder.encode against plain SentenceTransformer.encode.

Both variants run on the same loaded model, the same texts and thread count, interleaved (the
order alternates each round), repeated; the table shows medians of sentences per second and the
ratio densekit / plain (the wrapper's overhead; it should stay >= 0.95).

Texts: short = STS-B sentences; long = Quoref passages cut to ~250 model tokens.
The thread sweep runs fresh subprocesses, because OMP_WAIT_POLICY only takes effect before torch
is imported: 1 vs 2 threads, with OMP_WAIT_POLICY=PASSIVE vs unset.

    .venv/bin/python benchmarks/encode_speed.py --quick
    .venv/bin/python benchmarks/encode_speed.py --models minilm --no-sweep
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MODELS = {"minilm": "all-MiniLM-L6-v2", "mpnet": "all-mpnet-base-v2"}


def short_texts(count: int) -> list[str]:
    """Distinct STS-B sentences (fields 5 and 6 of the tab-separated rows), in file order."""
    seen: dict[str, None] = {}
    for name in ("sts-dev.csv", "sts-train.csv"):
        with open(DATA / "stsb" / name, encoding="utf-8") as handle:
            for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                for sentence in fields[5:7]:
                    seen.setdefault(sentence.strip(), None)
                if len(seen) >= count:
                    return list(seen)[:count]
    return list(seen)[:count]


def long_texts(count: int, encoder, tokens: int = 250) -> list[str]:
    """Quoref passages cut at the end of their ``tokens``-th model token."""
    texts = []
    with open(DATA / "quoref" / "passages.jsonl", encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line)["text"]
            spans = encoder.token_spans(text)
            if len(spans) >= tokens:
                texts.append(text[: spans[tokens - 1][1]])
            if len(texts) == count:
                break
    return texts


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def compare(encoder, texts: list[str], repeats: int, batch_size: int) -> dict[str, float]:
    """Median sentences/s of both variants, interleaved, order alternating each round."""
    variants = {
        "densekit": lambda: encoder.encode(texts, batch_size=batch_size),
        "plain": lambda: encoder.model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        ),
    }
    encoder.encode(texts[: min(len(texts), 8)])  # warm-up: first calls allocate and pick kernels
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(repeats):
        names = list(variants) if round_number % 2 == 0 else list(reversed(variants))
        for name in names:
            rates[name].append(len(texts) / timed(variants[name]))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    # Paired per-round ratios: on a shared machine load drifts between rounds, less within one.
    medians["ratio"] = statistics.median(ours / plain for ours, plain in zip(rates["densekit"], rates["plain"]))
    return medians


def load(reference: str, threads: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from densekit.encoders.sentence import SentenceEncoder

    return SentenceEncoder(reference, threads=threads)


def run_comparison(args) -> None:
    rows = []
    for key in args.models:
        encoder = load(MODELS[key], args.threads)
        sizes = {"short": args.short, "long": args.long if key == "minilm" else args.long_mpnet}
        for kind, count in sizes.items():
            if count <= 0:
                continue
            texts = short_texts(count) if kind == "short" else long_texts(count, encoder)
            result = compare(encoder, texts, args.repeats, args.batch_size)
            tokens = statistics.mean(encoder.count_tokens(text) for text in texts)
            rows.append((key, kind, len(texts), round(tokens), result["densekit"], result["plain"], result["ratio"]))
            print(f"  done {key} {kind}", file=sys.stderr, flush=True)
    print(f"\nThroughput, sentences/s (median of {args.repeats}, interleaved), {args.threads} torch thread(s)")
    print(f"{'model':<7} {'texts':<6} {'n':>5} {'tokens':>6} {'densekit':>9} {'plain':>9} {'ratio':>6} {'paired':>6}")
    for key, kind, count, tokens, ours, plain, paired in rows:
        print(f"{key:<7} {kind:<6} {count:>5} {tokens:>6} {ours:>9.1f} {plain:>9.1f} {ours / plain:>6.3f} {paired:>6.3f}")
    print("ratio = median densekit / median plain; paired = median of per-round ratios")


def sweep_worker(args) -> None:
    """One sweep cell, in a fresh process: env already set by the parent."""
    import torch  # first, so the OpenMP runtime sees exactly the parent's OMP_WAIT_POLICY

    torch.set_num_threads(args.threads)
    encoder = load(MODELS[args.models[0]], args.threads)
    texts = short_texts(args.short)
    rates = []
    encoder.encode(texts[:8])
    for _ in range(args.repeats):
        rates.append(len(texts) / timed(lambda: encoder.encode(texts, batch_size=args.batch_size)))
    print(json.dumps({"rate": statistics.median(rates), "threads": torch.get_num_threads()}))


def run_sweep(args) -> None:
    cells = [(threads, policy) for threads in (1, 2) for policy in ("PASSIVE", None)]
    rates: dict[tuple, list[float]] = {cell: [] for cell in cells}
    for round_number in range(args.sweep_rounds):
        for threads, policy in cells if round_number % 2 == 0 else list(reversed(cells)):
            environment = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
            environment.pop("DENSEKIT_THREADS", None)
            if policy:
                environment["OMP_WAIT_POLICY"] = policy
            command = [sys.executable, __file__, "--sweep-worker", "--threads", str(threads),
                       "--models", args.models[0], "--short", str(args.short), "--repeats", str(args.repeats),
                       "--batch-size", str(args.batch_size)]
            output = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
            rates[(threads, policy)].append(json.loads(output.stdout.strip().splitlines()[-1])["rate"])
            print(f"  done sweep {threads} {policy}", file=sys.stderr, flush=True)
    base = statistics.median(rates[(1, "PASSIVE")])
    print(f"\nThread sweep: {args.models[0]}, {args.short} short texts, sentences/s "
          f"(median over {args.sweep_rounds} process(es) x {args.repeats} runs), cores={os.cpu_count()}")
    print(f"{'threads':>7} {'OMP_WAIT_POLICY':<16} {'rate':>8} {'vs 1/PASSIVE':>12}")
    for threads, policy in cells:
        rate = statistics.median(rates[(threads, policy)])
        print(f"{threads:>7} {policy or 'unset':<16} {rate:>8.1f} {rate / base:>12.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--short", type=int, default=1024, help="STS-B sentences")
    parser.add_argument("--long", type=int, default=64, help="~250-token passages for MiniLM")
    parser.add_argument("--long-mpnet", type=int, default=16, help="~250-token passages for mpnet (~1/s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-sweep", action="store_true", help="skip the thread sweep")
    parser.add_argument("--sweep-rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer texts: a few minutes on 2 cores")
    parser.add_argument("--sweep-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sweep_worker:
        sweep_worker(args)
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.quick:
        args.short, args.long, args.long_mpnet, args.sweep_rounds = 256, 16, 6, 1
    run_comparison(args)
    if not args.no_sweep:
        args.models = ["minilm"]
        run_sweep(args)


if __name__ == "__main__":
    main()
