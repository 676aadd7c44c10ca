"""Reader span rules on the Quoref test split: EM / F1 with the gold passage, spans allowed to run
across a sentence end or not (``Reader(within_sentence=...)``), same reader, same questions.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/reader_spans.py --reader READER_DIR --limit 200
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

QUOREF = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "quoref"


def main() -> None:
    from densekit.eval.datasets import Query
    from densekit.eval.metrics import exact_match, token_f1
    from densekit.pipelines.reader import Passage, Reader
    from densekit.train.quoref_split import load_quoref, split_quoref

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reader", required=True)
    parser.add_argument("--limit", type=int, default=200, help="test questions")
    args = parser.parse_args()

    test = split_quoref(load_quoref(QUOREF), "test")
    queries = [Query(q["question"], (q["passage_id"],), tuple(q["answers"])) for q in test.questions][: args.limit]
    readers = {rule: Reader(args.reader, within_sentence=rule, threads=1) for rule in (False, True)}
    scores = {rule: ([], []) for rule in readers}
    changed = []
    for query in queries:
        passage = Passage(query.relevant[0], test.passages[query.relevant[0]])
        texts = {}
        for rule, reader in readers.items():
            found = reader.read(query.question, [passage])[0]
            texts[rule] = found.text if found is not None else ""
            scores[rule][0].append(exact_match(texts[rule], query.answers))
            scores[rule][1].append(token_f1(texts[rule], query.answers))
        if texts[False] != texts[True]:
            changed.append((query.question, texts[False], texts[True], query.answers[0]))
    print(f"reader {args.reader}, {len(queries)} Quoref test questions, gold passage")
    for rule, (matches, f1s) in scores.items():
        label = "within one sentence" if rule else "spans may cross sentences"
        print(f"  {label:26} EM {sum(matches) / len(matches):.3f}  F1 {sum(f1s) / len(f1s):.3f}")
    print(f"  answers that differ: {len(changed)}")
    for question, crossing, within, gold in changed[:10]:
        print(f"    {question[:60]!r}: {crossing[:40]!r} -> {within[:40]!r} (gold {gold[:30]!r})")


if __name__ == "__main__":
    main()
