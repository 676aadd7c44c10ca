"""How close `densekit index` could come to the reference if BM25 word counting cost nothing.

A measurement of the design's floor for issue 15's goal (hashing:384, densekit <= 1.5x the reference
storing the same chunks, ``index_reference.py``). Each round runs, alternating: the chunk reference,
`densekit index` as it is, and `densekit index` with every BM25 word count handed in ready-made (the
sparse tables' ``_count`` answers from a recording of an untimed run over the same input; everything
else, the sparse writes, merges, rows, vectors and commits included, runs as usual). Counting is the
largest piece of densekit's own work, so the second ratio bounds what any faster counting (or counting
on another core) can reach.

    .venv/bin/python benchmarks/index_bound.py --rounds 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from densekit.collection.embedded import sparse_tables
from densekit.loaded_models import default_models
from index_reference import densekit_index, passages, reference


class RecordedCounts:
    """Wraps ``CollectionSparse._count``: records its answers in one run, hands them back in the next."""

    def __init__(self):
        self.original = sparse_tables.CollectionSparse._count
        self.answers: list = []
        self.replaying = False
        self.position = 0
        recorder = self

        def count(sparse, *arguments):
            if not recorder.replaying:
                answer = recorder.original(sparse, *arguments)
                recorder.answers.append(answer)
                return answer
            answer = recorder.answers[recorder.position]
            recorder.position += 1
            return answer

        sparse_tables.CollectionSparse._count = count

    def record(self) -> None:
        self.replaying, self.answers = False, []

    def replay(self) -> None:
        self.replaying, self.position = True, 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="hashing:384")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    arguments = parser.parse_args()
    rows = passages()
    work = Path(tempfile.mkdtemp(prefix="index-bound-"))
    source = work / "passages.jsonl"
    source.write_text("".join(json.dumps({"id": row["id"], "text": row["text"]}) + "\n" for row in rows))
    counts = RecordedCounts()
    timings: dict[str, list[float]] = {"reference_chunks": [], "densekit": [], "densekit_counts_given": []}
    try:
        default_models().encoder(arguments.model).encode([row["text"] for row in rows])  # per-process word vectors
        reference(work / "warm-reference", rows[:20], arguments.model, chunks=True)
        for round_number in range(arguments.rounds):
            timings["reference_chunks"].append(reference(work / f"reference-{round_number}", rows, arguments.model, chunks=True))
            counts.record()
            seconds, items = densekit_index(work / f"densekit-{round_number}", source, arguments.model, None)
            timings["densekit"].append(seconds)
            counts.replay()
            given, given_items = densekit_index(work / f"given-{round_number}", source, arguments.model, None)
            if given_items != items or counts.position != len(counts.answers):
                raise SystemExit("the replayed run wrote other batches than the recorded one: not comparable")
            timings["densekit_counts_given"].append(given)
            print(f"round {round_number + 1}: reference {timings['reference_chunks'][-1]:.2f} s, densekit {seconds:.2f} s, "
                  f"with counts given {given:.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"model": arguments.model, "passages": len(rows), "rounds": arguments.rounds,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              **{f"{name}_seconds": round(statistics.median(values), 3) for name, values in timings.items()},
              "rounds_seconds": timings}
    reference_runs = timings["reference_chunks"]
    result["goal_ratio_per_round"] = [round(a / b, 2) for a, b in zip(timings["densekit"], reference_runs)]
    result["counts_given_ratio_per_round"] = [round(a / b, 2) for a, b in zip(timings["densekit_counts_given"], reference_runs)]
    result["goal_ratio"] = statistics.median(result["goal_ratio_per_round"])
    result["counts_given_ratio"] = statistics.median(result["counts_given_ratio_per_round"])
    print(json.dumps({key: value for key, value in result.items() if key != "rounds_seconds"}, indent=2))
    if arguments.json:
        arguments.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
