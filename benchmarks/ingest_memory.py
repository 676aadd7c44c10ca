"""Peak memory of `densekit index` on one huge single-line .txt file (issue 18, finding 8).

Writes a file of N MB on ONE line (varied sentences, no newline), runs `densekit index` on it in a
child process per size and model, and prints the child's peak RSS (ru_maxrss), the chunks written,
the vectors held (chunks x dimension x 4 bytes) and peak RSS minus those vectors; below each row,
the HNSW graph's arrays (neighbour slots, levels, offsets), peak minus vectors and graph, and RSS by
phase (each stretch of ingest, commit, merge: RSS at entry -> its peak, sampled every 20 ms, with
glibc malloc's bytes [in use/held] at entry). Goals: MiniLM at 50 MB <= 1.5 GB peak; with the
hashing encoder, peak minus vectors flat from 50 MB to 200 MB.

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
import json, os, resource, sys, threading, time
from densekit.collection import Collection
from densekit.ingest import CommitEvery, ingest
folder, path, model, backend, commit, index = sys.argv[1:7]
started = time.perf_counter()

# RSS by phase: a thread reads /proc/self/statm every 20 ms; the phase is set by wrapping the
# collection's commit (its save steps: "commit: index" holds any conversion to HNSW and the index
# write) and merge_segments (ru_maxrss gives only the overall peak). Each stretch of a phase records
# its RSS on entry and its peak, and glibc malloc's bytes in use and held (mallinfo2) on entry.
page = os.sysconf("SC_PAGE_SIZE")
phases, finished = [], [False]
try:
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
except (OSError, AttributeError):
    libc = None

def malloc_mib():
    if libc is None:
        return None, None
    info = libc.mallinfo2()
    return round((info.uordblks + info.hblkhd) / 2**20, 1), round((info.arena + info.hblkhd) / 2**20, 1)

def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page

def note():
    if phases:
        phases[-1]["peak"] = max(phases[-1]["peak"], rss())

def enter(name):
    note()
    if phases and phases[-1]["name"] == name:
        return
    now = rss()
    used, held = malloc_mib()
    phases.append({"name": name, "entry": now, "peak": now, "malloc_used": used, "malloc_held": held})

def sample():
    while not finished[0]:
        note()
        time.sleep(0.02)

enter("open")
threading.Thread(target=sample, daemon=True).start()
target = Collection.create(folder, model=model, backend=backend or None, index=index)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
commit_method, merge_method = target.commit, target.merge_segments

def commit_in_phase(*args, **kwargs):
    outer = phases[-1]["name"]
    enter("commit: index")
    try:
        return commit_method(*args, **kwargs)
    finally:
        enter(outer)

def merge_in_phase(*args, **kwargs):
    enter("merge")
    return merge_method(*args, **kwargs)

def step(name):
    if phases[-1]["name"] == "commit: index" and name.startswith("index:"):
        enter("commit: rest")

target.commit, target.merge_segments, target.on_save_step = commit_in_phase, merge_in_phase, step
enter("ingest")
report = ingest(target, [path], commit_every=CommitEvery() if commit == "1" else None)
after_ingest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
enter("close")
target.commit()
space = target.spaces["text"]
graph = getattr(getattr(space.index, "_index", None), "hnsw", None)
# The HNSW graph's arrays as reserved (neighbour slots, levels, offsets): resident once built.
graph_bytes = 0 if graph is None else graph.neighbors.size() * 4 + graph.levels.size() * 4 + graph.offsets.size() * 8
target.close()
note()
finished[0] = True
print(json.dumps({"chunks": report.chunks, "dimension": space.dimension, "graph_bytes": graph_bytes,
                  "index_kind": space.index.kind,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "model_loaded_kib": before, "after_ingest_kib": after_ingest,
                  "phases": [{**stretch, "entry": round(stretch["entry"] / 2**20, 1), "peak": round(stretch["peak"] / 2**20, 1)}
                             for stretch in phases],
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
            "graph_mib": result.get("graph_bytes", 0) / 2**20, "index_kind": result.get("index_kind"),
            "peak_minus_vectors_graph_mib": result["peak_kib"] / 1024 - vectors_mib - result.get("graph_bytes", 0) / 2**20,
            "phases": result.get("phases", []),
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
            # Each stretch of a phase: RSS at entry -> its peak, and malloc's [in use/held] at entry (MiB).
            print(f"      graph {row['graph_mib']:.0f} MiB, peak - vectors - graph {row['peak_minus_vectors_graph_mib']:.0f} MiB; "
                  + ", ".join(f"{stretch['name']} {stretch['entry']:.0f}->{stretch['peak']:.0f}"
                              f" [{stretch['malloc_used']}/{stretch['malloc_held']}]"
                              for stretch in row["phases"] if stretch["peak"] > stretch["entry"] + 1), flush=True)
            print(json.dumps(row), file=sys.stderr)


if __name__ == "__main__":
    main()
