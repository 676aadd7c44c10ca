"""Peak memory of `densekit index` on one huge single-line .txt file (issue 18, finding 8).

Writes a file of N MB on ONE line (varied sentences, no newline), runs `densekit index` on it in a
child process per size and model, and prints the child's peak RSS (ru_maxrss), the chunks written,
the vectors held (chunks x dimension x 4 bytes) and peak RSS minus those vectors. Goals: MiniLM at
50 MB <= 1.5 GB peak; with the hashing encoder, peak minus vectors flat from 50 MB to 200 MB.

    .venv/bin/python benchmarks/ingest_memory.py --sizes 50,200 --models hashing:64
    .venv/bin/python benchmarks/ingest_memory.py --sizes 50 --models sentence-transformers/all-MiniLM-L6-v2 --backend onnx-int8

The child ingests as `densekit index` does (committing as it goes, then merging the run's BM25
segments); --index picks the vector index (default auto: HNSW past 50,000 chunks, whose graph of
~65 neighbours x 4 bytes per chunk also grows with the input; `flat` holds the vectors alone).
--no-commit stages everything and commits once at the end (`ingest` without a commit policy);
--chunk-only measures reading and chunking with the model's tokenizer without encoding (MiniLM
encodes ~40,000 chunks for 50 MB: hours on a shared 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# --chunk-only: the real reading and chunking path (the model's own tokenizer), no encoding; the phase
# that took 7.7 GB before, measurable at 50 MB where encoding it all with MiniLM takes hours on 2 cores.
CHUNK_ONLY = r"""
import json, resource, sys, time
from densekit.chunking import chunk_stream
from densekit.encoders.factory import load_encoder
from densekit.ingest import IngestReport
from densekit.ingest_sources import discover, read_documents
folder, path, model, backend, commit, index = sys.argv[1:7]
started = time.perf_counter()
encoder = load_encoder(model, backend=backend or None)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = IngestReport()
chunks = 0
limit = max(8, (encoder.max_seq_length or 256) - 2)
for source in discover([path], report):
    for document in read_documents(source, report):
        for chunk in chunk_stream(document.pieces(), encoder.token_spans, limit, 32):
            chunks += 1
print(json.dumps({"chunks": chunks, "dimension": encoder.dimension,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "model_loaded_kib": before, "after_ingest_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "seconds": time.perf_counter() - started}))
"""

CHILD = r"""
import json, resource, sys, time
from densekit.collection import Collection
from densekit.ingest import CommitEvery, ingest
folder, path, model, backend, commit, index = sys.argv[1:7]
started = time.perf_counter()
target = Collection.create(folder, model=model, backend=backend or None, index=index)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = ingest(target, [path], commit_every=CommitEvery() if commit == "1" else None)
after_ingest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
target.commit()
target.close()
print(json.dumps({"chunks": report.chunks, "dimension": target.spaces["text"].dimension,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "model_loaded_kib": before, "after_ingest_kib": after_ingest,
                  "seconds": time.perf_counter() - started}))
"""


def write_single_line(path: Path, megabytes: int, seed: int = 0) -> None:
    """A file of ``megabytes`` MB of sentences on one line (no newline anywhere)."""
    rng = random.Random(seed)
    words = ("river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble "
             "pencil saddle thunder walnut basket candle apple").split()
    sentences = [" ".join(rng.choice(words) for _ in range(rng.randint(6, 18))).capitalize() + ". " for _ in range(5000)]
    block = "".join(sentences).encode()
    target = megabytes * 1024 * 1024
    with path.open("wb") as file:
        written = 0
        while written < target:
            part = block[: target - written]
            file.write(part)
            written += len(part)


def measure(size: int, model: str, backend: str, commit: bool, workdir: Path, chunk_only: bool = False,
            index: str = "auto") -> dict:
    path = workdir / f"line-{size}mb.txt"
    if not path.exists():
        write_single_line(path, size)
    folder = Path(tempfile.mkdtemp(dir=workdir))
    os.rmdir(folder)
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-c", CHUNK_ONLY if chunk_only else CHILD, str(folder), str(path), model, backend, "1" if commit else "0", index],
                               capture_output=True, text=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    if completed.returncode != 0:
        raise SystemExit(completed.stderr[-3000:])
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    vectors_mib = result["chunks"] * result["dimension"] * 4 / 2**20
    return {"size_mb": size, "model": model, "backend": backend or "default", "commit": commit, "index": index,
            "chunks": result["chunks"], "peak_mib": result["peak_kib"] / 1024, "vectors_mib": vectors_mib,
            "peak_minus_vectors_mib": result["peak_kib"] / 1024 - vectors_mib,
            "model_loaded_mib": result["model_loaded_kib"] / 1024, "after_ingest_mib": result["after_ingest_kib"] / 1024,
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="50,200", help="file sizes in MB, comma-separated")
    parser.add_argument("--models", default="hashing:64", help="model references, comma-separated")
    parser.add_argument("--backend", default="", help="encoder backend (default: the model's default)")
    parser.add_argument("--no-commit", action="store_true", help="stage everything, commit once at the end")
    parser.add_argument("--index", default="auto", help="vector index kind: auto, exact, flat or hnsw")
    parser.add_argument("--chunk-only", action="store_true", help="read and chunk with the model's tokenizer, no encoding")
    parser.add_argument("--workdir", default=None, help="where the files go (default: a temporary folder)")
    options = parser.parse_args()
    workdir = Path(options.workdir or tempfile.mkdtemp(prefix="ingest-memory-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{'MB':>5} {'model':<42} {'chunks':>8} {'peak MiB':>9} {'vectors':>8} {'peak-vec':>9} {'ingest':>8} {'s':>6}")
    for model in options.models.split(","):
        for size in [int(value) for value in options.sizes.split(",")]:
            # Each measurement is its own child process, which reports its own peak (ru_maxrss).
            row = measure(size, model, options.backend, not options.no_commit, workdir, options.chunk_only, options.index)
            print(f"{row['size_mb']:>5} {model:<42} {row['chunks']:>8} {row['peak_mib']:>9.0f} {row['vectors_mib']:>8.0f} "
                  f"{row['peak_minus_vectors_mib']:>9.0f} {row['after_ingest_mib']:>8.0f} {row['seconds']:>6.0f}", flush=True)
            print(json.dumps(row), file=sys.stderr)


if __name__ == "__main__":
    main()
