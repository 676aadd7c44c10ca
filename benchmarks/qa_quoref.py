"""Open-domain QA on the Quoref test split: retrievers, reader, latency, and the reference case.

Trains nothing: point it at a retriever and a reader made by ``densekit train`` on the train split
(same split: ``densekit train split`` / ``densekit.train.quoref_split``, seed "densekit", 20% test).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/qa_quoref.py \
        --retriever /tmp/densekit-qa/retriever --reader /tmp/densekit-qa/reader --reader-limit 150

The collection is the test split's passages (no passage seen in training). Prints:
- recall@1/5/20/100 and MRR@10 for BM25, the untrained all-MiniLM-L6-v2 and the trained retriever;
- reader EM / F1 with the gold passage and end to end (trained retriever, top --reader-k passages);
- ``ask`` latency over the whole collection (median of 50 questions);
- training time and examples/s, read from the saved models' json;
- the reference case (answer context vs copy of the question) for every model given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
QUOREF = REPO.parent / "shared" / "data" / "quoref"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--retriever", required=True, help="Trained retriever folder.")
    parser.add_argument("--reader", required=True, help="Trained reader folder.")
    parser.add_argument("--reader-limit", type=int, default=150, help="Questions for the reader figures.")
    parser.add_argument("--reader-k", type=int, default=3, help="Passages read per question end to end.")
    parser.add_argument("--latency-questions", type=int, default=50)
    parser.add_argument("--with-mpnet", action="store_true", help="Also measure all-mpnet-base-v2 (slow).")
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()

    from densekit.encoders.dual import load_dual_encoder
    from densekit.encoders.hashing import HashingEncoder
    from densekit.encoders.sentence import SentenceEncoder
    from densekit.eval.datasets import Query
    from densekit.eval.qa import (
        build_passage_collection,
        evaluate_end_to_end,
        evaluate_reader_gold,
        evaluate_retrieval,
        reference_case,
    )
    from densekit.pipelines.qa import ask
    from densekit.pipelines.reader import Reader
    from densekit.train.quoref_split import load_quoref, split_quoref

    data = load_quoref(QUOREF)
    train, test = split_quoref(data, "train"), split_quoref(data, "test")
    assert not set(train.passages) & set(test.passages)
    queries = [Query(q["question"], (q["passage_id"],), tuple(q["answers"])) for q in test.questions]
    print(f"Quoref split by passage: train {len(train.passages)} passages / {len(train.questions)} questions, "
          f"test {len(test.passages)} / {len(test.questions)}; collection = the test passages", flush=True)

    minilm = SentenceEncoder("all-MiniLM-L6-v2", threads=arguments.threads)
    retriever = load_dual_encoder(arguments.retriever, threads=arguments.threads)
    encoders = {"BM25 (sparse)": HashingEncoder(8), "all-MiniLM-L6-v2 (untrained, symmetric)": minilm,
                "trained retriever (st-dual)": retriever}
    work = Path(tempfile.mkdtemp(prefix="densekit-qa-bench-"))
    collections, rows = {}, []
    for number, (name, encoder) in enumerate(encoders.items()):
        started = time.perf_counter()
        collections[name] = build_passage_collection(work / f"c{number}", test.passages, encoder)
        index_seconds = time.perf_counter() - started
        mode = "sparse" if name.startswith("BM25") else "dense"
        started = time.perf_counter()
        recall, mrr = evaluate_retrieval(collections[name], queries, mode=mode)
        search_seconds = time.perf_counter() - started
        rows.append([name, *(f"{recall[k]:.3f}" for k in (1, 5, 20, 100)), f"{mrr:.3f}",
                     f"{index_seconds:.0f}", f"{len(queries) / search_seconds:.1f}"])
        print(f"  done {name}", flush=True)
    print("\nRetrieval on the test split", f"({len(queries)} questions, {len(test.passages)} passages)")
    print(table(rows, ["retriever", "R@1", "R@5", "R@20", "R@100", "MRR@10", "index s", "queries/s"]), flush=True)

    reader = Reader(arguments.reader, threads=arguments.threads)
    sample = queries[: arguments.reader_limit]
    started = time.perf_counter()
    gold_em, gold_f1 = evaluate_reader_gold(reader, sample, test.passages)
    gold_seconds = time.perf_counter() - started
    dense = collections["trained retriever (st-dual)"]
    started = time.perf_counter()
    e2e_em, e2e_f1 = evaluate_end_to_end(dense, reader, sample, k=arguments.reader_k)
    e2e_seconds = time.perf_counter() - started
    print(f"\nReader {arguments.reader} on {len(sample)} test questions")
    print(table([["gold passage", f"{gold_em:.3f}", f"{gold_f1:.3f}", f"{gold_seconds / len(sample):.2f}"],
                 [f"end to end (trained retriever, k={arguments.reader_k})", f"{e2e_em:.3f}", f"{e2e_f1:.3f}",
                  f"{e2e_seconds / len(sample):.2f}"]], ["setting", "EM", "F1", "s/question"]), flush=True)

    latencies = []
    for query in queries[-arguments.latency_questions:]:
        started = time.perf_counter()
        ask(dense, query.question, k=arguments.reader_k, reader=reader)
        latencies.append(time.perf_counter() - started)
    print(f"\nask latency over the whole collection ({len(test.passages)} passages, k={arguments.reader_k}): "
          f"median {statistics.median(latencies):.2f}s, p90 {sorted(latencies)[int(0.9 * len(latencies)) - 1]:.2f}s "
          f"over {len(latencies)} questions")

    print("\nTraining (from the saved models' json)")
    training_rows = []
    for name, path in (("retriever", Path(arguments.retriever) / "densekit_retriever.json"),
                       ("reader", Path(arguments.reader) / "densekit_reader.json")):
        info = json.loads(path.read_text()).get("training", {}) if path.is_file() else {}
        training_rows.append([name, info.get("steps"), info.get("examples"), info.get("seconds"),
                              info.get("examples_per_second"), info.get("batch_size"), info.get("final_loss")])
    print(table(training_rows, ["model", "steps", "examples", "seconds", "examples/s", "batch", "final loss"]))

    reference_encoders = {"all-MiniLM-L6-v2": minilm, "trained retriever": retriever}
    if arguments.with_mpnet:
        reference_encoders["all-mpnet-base-v2"] = SentenceEncoder("all-mpnet-base-v2", threads=arguments.threads)
    rows = []
    for name, encoder in reference_encoders.items():
        for rank in reference_case(encoder):
            rows.append([name, rank.question, rank.answer_rank, rank.copy_rank, "yes" if rank.answer_outranks_copy else "NO"])
    print("\nReference case: rank of the answer context vs the copy of the question (1 = top)")
    print(table(rows, ["model", "question", "answer", "copy", "answer first"]))
    for collection in collections.values():
        collection.close()


if __name__ == "__main__":
    sys.exit(main())
