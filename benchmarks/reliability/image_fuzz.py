"""Long setting of the image-ingestion fuzz test: thousands of mutated image files through index_images.

The test suite (tests/images/test_image_fuzz.py) runs 100 hypothesis examples and the hand-made
hostile folder; this script takes the same seeds (valid PNG, JPEG, GIF, WebP, BMP and TIFF files in
many modes, made with Pillow), mutates them at random (bit flips, inserted and overwritten bytes,
truncation, wrong extensions) and indexes them in batches with the tiny CLIP the tests build. For
every file it checks the outcome (indexed, or reported with a one-line reason), times each file
through the progress callback, and watches the process's RSS between batches.

    .venv/bin/python benchmarks/reliability/image_fuzz.py                 # 10,000 mutated files
    .venv/bin/python benchmarks/reliability/image_fuzz.py --files 30000 --seed 2

It exits 1 if any file was neither indexed nor reported, any batch raised, or a batch hung.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import random
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fuzz_helpers():
    """The seeds, mutator and hostile folder of tests/images/test_image_fuzz.py (one definition of each)."""
    spec = importlib.util.spec_from_file_location("image_fuzz_cases", ROOT / "tests" / "images" / "test_image_fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def random_mutations(generator: random.Random) -> list[tuple]:
    """1-4 mutations in the test's (kind, where, payload) form."""
    changes = []
    for _ in range(generator.randint(1, 4)):
        kind = generator.choice(["flip", "flip", "insert", "overwrite", "truncate"])
        where = generator.random()
        if kind == "flip":
            payload = generator.randrange(8)
        elif kind == "insert":
            payload = generator.randbytes(generator.randint(1, 32))
        elif kind == "overwrite":
            payload = generator.choice([b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", generator.randbytes(4)])
        else:
            payload = None
        changes.append((kind, where, payload))
    return changes


def category(reason: str) -> str:
    """A reason without its file-specific details, for counting."""
    return reason.split(" (")[0].split(":")[0][:60]


class Hang(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10000, help="Mutated files in all.")
    parser.add_argument("--batch", type=int, default=100, help="Files per index_images call.")
    parser.add_argument("--seed", type=int, default=1, help="Random seed.")
    parser.add_argument("--hang-seconds", type=int, default=300, help="A batch running longer than this is a hang.")
    parser.add_argument("--model", default=None, help="CLIP model folder (default: the tiny CLIP, built in a temp folder).")
    arguments = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(1)
    from densekit.collection import Collection
    from densekit.collection.check import check_collection
    from densekit.encoders.clip import load_clip_encoder
    from densekit.images.indexing import index_images
    from densekit.images.tiny import sample_clip

    helpers = fuzz_helpers()
    seeds = helpers.SEEDS
    suffixes = helpers.SUFFIXES
    generator = random.Random(arguments.seed)

    def expired(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, expired)
    with tempfile.TemporaryDirectory(prefix="densekit-image-fuzz-") as scratch:
        scratch = Path(scratch)
        started = time.perf_counter()
        model = arguments.model or str(sample_clip(scratch / "tiny-clip"))
        encoder = load_clip_encoder(model, threads=1)
        print(f"model {model} ready in {time.perf_counter() - started:.0f}s; {arguments.files} mutated files "
              f"from {len(seeds)} seeds, {arguments.batch} per batch", flush=True)
        outcomes: collections.Counter = collections.Counter()  # (seed format, indexed|reported)
        reasons: collections.Counter = collections.Counter()
        slowest: list[tuple[float, str]] = []
        failures: list[str] = []
        rss_samples: list[tuple[int, float]] = []
        rss_start = None
        with Collection.create(scratch / "fuzz.dk", encoder=encoder, space="images") as collection:
            # Warm-up on the valid seeds: model, thumbnails and collection code paths allocated once.
            warm = scratch / "warm"
            warm.mkdir()
            for name, data in seeds.items():
                (warm / name).write_bytes(data)
            index_images(collection, [warm])
            rss_start, peak_start = rss_mib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            done = 0
            batch_number = 0
            while done < arguments.files:
                folder = scratch / f"batch-{batch_number}"
                folder.mkdir()
                files = {}
                for position in range(min(arguments.batch, arguments.files - done)):
                    seed = generator.choice(sorted(seeds))
                    suffix = Path(seed).suffix if generator.random() < 0.7 else generator.choice(suffixes)
                    path = folder / f"f{position:05d}{suffix}"
                    path.write_bytes(helpers.mutate(seeds[seed], random_mutations(generator)))
                    files[path] = seed
                ticks = [time.perf_counter()]
                signal.alarm(arguments.hang_seconds)
                try:
                    report = index_images(collection, [folder], progress=lambda finished, total, ticks=ticks: ticks.append(time.perf_counter()))
                except Hang:
                    failures.append(f"batch {batch_number}: hung for more than {arguments.hang_seconds}s")
                    break
                except Exception as error:  # the point of the exercise: record, keep going
                    failures.append(f"batch {batch_number}: {type(error).__name__}: {error}")
                    continue
                finally:
                    signal.alarm(0)
                # ticks: [start, progress(0, n), progress(1, n), ...]; the gap before tick i+2 is file i
                # (files are walked in sorted order, as discover_images sorts them).
                ordered = sorted(files)
                for position, path in enumerate(ordered):
                    if position + 2 < len(ticks):
                        slowest.append((ticks[position + 2] - ticks[position + 1], f"{path.name} ({files[path]})"))
                slowest = sorted(slowest, reverse=True)[:5]
                problems = dict(report.problems)
                for path, seed in files.items():
                    indexed = collection.get(str(path.resolve())) is not None
                    reported = str(path) in problems
                    if indexed == reported:
                        failures.append(f"{path.name} from {seed}: indexed={indexed} reported={reported}")
                    elif reported:
                        reason = problems[str(path)]
                        if not reason.strip() or "\n" in reason:
                            failures.append(f"{path.name}: unclear reason {reason!r}")
                        reasons[category(reason)] += 1
                    outcomes[(Path(seed).suffix, "indexed" if indexed else "reported")] += 1
                done += len(files)
                batch_number += 1
                rss_samples.append((done, rss_mib()))
                if batch_number % 10 == 0:
                    print(f"  {done:6d} files, RSS {rss_samples[-1][1]:.0f} MiB, {len(failures)} failures", flush=True)
            elapsed = time.perf_counter() - started
        problems_after = check_collection(scratch / "fuzz.dk")
        peak_end = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        hostile = scratch / "hostile"
        expected = helpers.write_hostile_folder(hostile)
        with Collection.create(scratch / "hostile.dk", encoder=encoder, space="images") as collection:
            begin = time.perf_counter()
            hostile_report = index_images(collection, [hostile])
            hostile_seconds = time.perf_counter() - begin
            try:
                helpers.check_hostile_outcome(hostile, expected, hostile_report.as_dict(), collection)
                hostile_verdict = "as expected"
            except AssertionError as error:
                hostile_verdict = f"UNEXPECTED: {error}"
                failures.append(f"hostile folder: {error}")

    print(f"\n{'format':>8} {'indexed':>8} {'reported':>9}")
    for suffix in sorted({suffix for suffix, _ in outcomes}):
        print(f"{suffix:>8} {outcomes[(suffix, 'indexed')]:>8} {outcomes[(suffix, 'reported')]:>9}")
    print(f"{'all':>8} {sum(v for (_, kind), v in outcomes.items() if kind == 'indexed'):>8} "
          f"{sum(v for (_, kind), v in outcomes.items() if kind == 'reported'):>9}")
    print("\nreasons reported:")
    for reason, count in reasons.most_common(15):
        print(f"  {count:6d}  {reason}")
    print("\nslowest files:")
    for seconds, name in slowest:
        print(f"  {seconds * 1000:8.0f} ms  {name}")
    middle = rss_samples[len(rss_samples) // 2][1] if rss_samples else float("nan")
    last = rss_samples[-1][1] if rss_samples else float("nan")
    print(f"\nRSS after warm-up {rss_start:.0f} MiB, halfway {middle:.0f} MiB, at the end {last:.0f} MiB; "
          f"peak {peak_start:.0f} -> {peak_end:.0f} MiB")
    print(f"hostile folder ({len(expected)} cases): {hostile_seconds:.1f}s, {hostile_verdict}")
    print(f"collection check: {problems_after or 'ok'}; {elapsed:.0f}s in all")
    print(f"failures: {len(failures)}")
    for failure in failures[:20]:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
