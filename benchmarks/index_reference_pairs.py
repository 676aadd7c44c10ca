"""`index_reference.py` on two versions of densekit's sources, alternating, in one run.

Timings on shared cores drift with other load by more than most changes move them, so a change is
measured as pairs: run ``index_reference.py`` with ``PYTHONPATH`` at the sources before, then at the
sources after, ``--pairs`` times, each run a fresh process of ``--rounds`` rounds. Reported: for each
side the median over its runs of densekit's wall and CPU seconds, of the reference storing the same
chunks and of the goal ratio (densekit over that reference, issue 15: <= 1.5), and for each pair the
after/before ratios of densekit's wall and CPU seconds, with the UTC time and the load average.

Sources before a commit, e.g.:

    git archive e0016e4 src | tar -x -C /tmp/before
    .venv/bin/python benchmarks/index_reference_pairs.py --before /tmp/before/src --pairs 4 --rounds 3
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KEYS = ("densekit_seconds", "densekit_cpu_seconds", "reference_chunks_seconds", "goal_ratio", "reference_seconds")


def run_once(sources: Path, rounds: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="index-pairs-") as folder:
        output = Path(folder) / "result.json"
        environment = {**os.environ, "PYTHONPATH": str(sources), "OMP_WAIT_POLICY": "PASSIVE"}
        subprocess.run([sys.executable, str(HERE / "index_reference.py"), "--rounds", str(rounds), "--json", str(output), *extra],
                       check=True, env=environment, stdout=subprocess.DEVNULL)
        return json.loads(output.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="the sources before (a folder holding the densekit package)")
    parser.add_argument("--after", type=Path, default=HERE.parent / "src", help="the sources after (default: this checkout's)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    arguments, extra = parser.parse_known_args()
    for side in (arguments.before, arguments.after):
        if not (side / "densekit" / "__init__.py").is_file():
            raise SystemExit(f"{side}: no densekit package there; expected the folder that holds densekit/")
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M UTC")
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for pair in range(arguments.pairs):
        for side in ("before", "after"):
            runs[side].append(run_once(getattr(arguments, side), arguments.rounds, extra))
        before, after = runs["before"][-1], runs["after"][-1]
        print(f"pair {pair + 1}: before {before['densekit_seconds']:.2f} s (CPU {before['densekit_cpu_seconds']:.2f} s, "
              f"goal ratio {before['goal_ratio']:.2f}), after {after['densekit_seconds']:.2f} s "
              f"(CPU {after['densekit_cpu_seconds']:.2f} s, goal ratio {after['goal_ratio']:.2f})", flush=True)
    result = {
        "started": started, "ended": datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M UTC"),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "pairs": arguments.pairs, "rounds": arguments.rounds, "arguments": extra,
        **{side: {key: round(statistics.median(run[key] for run in side_runs), 3) for key in KEYS}
           for side, side_runs in runs.items()},
        "after_over_before_wall": [round(a["densekit_seconds"] / b["densekit_seconds"], 2)
                                   for b, a in zip(runs["before"], runs["after"])],
        "after_over_before_cpu": [round(a["densekit_cpu_seconds"] / b["densekit_cpu_seconds"], 2)
                                  for b, a in zip(runs["before"], runs["after"])],
    }
    print(json.dumps(result, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps({**result, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
