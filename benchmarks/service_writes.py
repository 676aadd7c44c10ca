"""Writes through the real service: N clients each adding one ~30-word document in a loop.

Builds a collection of ``--items`` texts (hashing:384 by default; 30 words each from the vocabulary of
../shared/data/quoref), starts `densekit serve` on it (a subprocess on 127.0.0.1 and a free port), and
for ``--seconds`` lets ``--clients`` threads each POST one document at a time to
/collections/bench/documents, every one with its own id. Then the server is killed with SIGKILL (no
chance to flush anything) and the collection is opened from disk: every acknowledged (201) write
must be there. Reports requests, failures (any non-201 or transport error, with the first messages),
p50 / p99 / max write latency, writes/s, and write requests per commit from /metrics (group commit).

The issue's goal (issue 15): 32 clients, 60 s, 10,000 items, hashing:384: 0 failures, p99 <= 500 ms,
every acknowledged write present; the same run reported with the default MiniLM encoder.

    .venv/bin/python benchmarks/service_writes.py                                   # the goal's run
    .venv/bin/python benchmarks/service_writes.py --seconds 15 --items 2000         # a short one
    .venv/bin/python benchmarks/service_writes.py --model sentence-transformers/all-MiniLM-L6-v2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from storage_speed import percentile, texts, vocabulary  # noqa: E402  (benchmarks/ is not a package)

HOST = "127.0.0.1"  # loopback only


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def build_collection(folder: Path, model: str, count: int, words: list[str]) -> None:
    from densekit.collection import Collection

    with Collection.create(folder, model=model) as collection:
        for offset in range(0, count, 5_000):
            batch = texts(words, min(5_000, count - offset), seed=offset)
            collection.add(batch, ids=[f"base-{offset + position}" for position in range(len(batch))])


def start_server(collection: Path, port: int) -> subprocess.Popen:
    import httpx2 as httpx

    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1"}
    environment.pop("DENSEKIT_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "densekit.cli.main", "serve", f"bench={collection}", "--host", HOST, "--port", str(port),
         "--log-level", "warning"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read()}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start in 120 s")


def write_counters(url: str) -> tuple[float, float]:
    import httpx2 as httpx

    text = httpx.get(f"{url}/metrics", timeout=30).text
    requests = sum(float(value) for value in re.findall(r'^densekit_write_requests_total\{collection="bench"\} (\S+)$', text, re.M))
    commits = sum(float(value) for value in re.findall(r'^densekit_write_commits_total\{collection="bench"\} (\S+)$', text, re.M))
    return requests, commits


def run_clients(url: str, clients: int, seconds: float, words: list[str]) -> dict:
    import httpx2 as httpx

    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    acknowledged: dict[str, str] = {}
    end = time.monotonic() + seconds

    def client(number: int) -> None:
        documents = iter(texts(words, 100_000, seed=number + 1_000_000))
        with httpx.Client(base_url=url, timeout=120) as session:
            for sequence in range(10**9):
                if time.monotonic() >= end:
                    return
                identifier, text = f"client{number}-{sequence}", next(documents)
                started = time.perf_counter()
                try:
                    response = session.post("/collections/bench/documents",
                                            json={"documents": [{"id": identifier, "text": text}]})
                    ok = response.status_code == 201
                    problem = f"HTTP {response.status_code}: {response.text[:160]}"
                except httpx.HTTPError as error:
                    ok, problem = False, f"{type(error).__name__}: {error}"
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if ok:
                        acknowledged[identifier] = text
                    else:
                        failures.append(problem)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "failures": failures, "acknowledged": acknowledged,
            "wall": time.perf_counter() - started}


def missing_after_kill(folder: Path, acknowledged: dict[str, str]) -> tuple[int, int]:
    """Acknowledged writes absent (or with another text) once the killed server's collection is reopened."""
    from densekit.collection import Collection

    with Collection.open(folder, readonly=True) as collection:
        found = {item.id: item.text for item in collection.get(sorted(acknowledged))}
        count = collection.count()
    return sum(1 for id_, text in acknowledged.items() if found.get(id_) != text), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="hashing:384")
    parser.add_argument("--items", type=int, default=10_000, help="items in the collection before the run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    words = vocabulary()
    work = Path(tempfile.mkdtemp(prefix="service-writes-"))
    folder = work / "bench"
    server = None
    try:
        started = time.perf_counter()
        build_collection(folder, arguments.model, arguments.items, words)
        build_seconds = time.perf_counter() - started
        port = free_port()
        server = start_server(folder, port)
        url = f"http://{HOST}:{port}"
        run = run_clients(url, arguments.clients, arguments.seconds, words)
        requests, commits = write_counters(url)
        server.send_signal(signal.SIGKILL)
        server.wait()
        missing, count = missing_after_kill(folder, run["acknowledged"])
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)
    latencies = run["latencies"]
    result = {
        "model": arguments.model, "items_before": arguments.items, "clients": arguments.clients,
        "seconds": arguments.seconds, "build_seconds": round(build_seconds, 1),
        "requests": len(latencies), "acknowledged": len(run["acknowledged"]), "failures": len(run["failures"]),
        "first_failures": sorted(set(run["failures"]))[:5],
        "writes_per_second": round(len(run["acknowledged"]) / run["wall"], 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(1000 * max(latencies), 1) if latencies else None,
        "commits": int(commits), "write_requests_per_commit": round(requests / commits, 2) if commits else None,
        "acknowledged_missing_after_kill": missing, "count_after_kill": count,
    }
    print(json.dumps(result, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
