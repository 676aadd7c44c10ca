"""Analogy evaluation speed and agreement: densekit's batched answers against gensim's loop.

Runs both on the same vectors and the Google analogy file (gensim's questions-words.txt, first
300,000 words, case-insensitive), prints seconds, accuracy and every question where the two
answers differ (with both candidates' scores, to show a near-tie).

    .venv/bin/python benchmarks/words_evaluate.py                 # packaged GloVe 6B 50-d
    .venv/bin/python benchmarks/words_evaluate.py --every 10      # every 10th question (gensim takes minutes)
    .venv/bin/python benchmarks/words_evaluate.py --vectors my.model --repeats 3

Seconds are given as wall time and as this process's CPU time (user + system): on a shared
machine the CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from densekit.pipelines.words import load_vectors
from densekit.pipelines.words.evaluate import ANALOGY_FILE, RESTRICT_VOCAB, answer_file, gensim_data, read_analogy_sections


def timed(function, *arguments):
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def gensim_answers(vectors, path: str, restrict_vocab: int) -> tuple[dict[tuple[str, str, str, str], bool], float]:
    """gensim's verdict per distinct question (the file repeats a few) and its accuracy in percent."""
    score, sections = vectors.evaluate_word_analogies(path, restrict_vocab=restrict_vocab)
    verdicts = {}
    for section in sections[:-1]:  # the last is gensim's "Total accuracy"
        verdicts.update({question: True for question in section["correct"]})
        verdicts.update({question: False for question in section["incorrect"]})
    return verdicts, 100 * score


def score(vectors, a: str, b: str, c: str, word: str) -> float:
    unit = vectors.get_normed_vectors()
    lookup = {key.upper(): index for index, key in reversed(list(enumerate(vectors.index_to_key)))}
    query = unit[lookup[b]] + unit[lookup[c]] - unit[lookup[a]]
    return float(unit[lookup[word]] @ (query / np.linalg.norm(query)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", default="glove-6b-50d")
    parser.add_argument("--restrict-vocab", type=int, default=RESTRICT_VOCAB)
    parser.add_argument("--repeats", type=int, default=3, help="batched runs (gensim runs once: minutes)")
    parser.add_argument("--every", type=int, default=1, help="use every Nth question of each section")
    arguments = parser.parse_args()
    path = gensim_data(ANALOGY_FILE)
    scratch = tempfile.TemporaryDirectory()
    if arguments.every > 1:
        sample = Path(scratch.name) / "sample.txt"
        sample.write_text("".join(f": {name}\n" + "".join(lines[:: arguments.every])
                                  for name, lines in read_analogy_sections(path)), encoding="utf-8")
        path = str(sample)
    vectors = load_vectors(arguments.vectors)

    batched_wall, batched_cpu = [], []
    for _ in range(arguments.repeats):
        (_, answered), wall, cpu = timed(answer_file, vectors, path, arguments.restrict_vocab)
        batched_wall.append(wall)
        batched_cpu.append(cpu)
    (reference, accuracy_gensim), gensim_wall, gensim_cpu = timed(gensim_answers, vectors, path, arguments.restrict_vocab)

    ours = {(q.a, q.b, q.c, q.expected): q for q in answered}
    differ = [key for key, correct in reference.items() if ours[key].correct != correct]
    accuracy_ours = 100 * sum(q.correct for q in answered) / len(answered)
    wall, cpu = statistics.median(batched_wall), statistics.median(batched_cpu)
    print(f"vectors {arguments.vectors}, restrict_vocab {arguments.restrict_vocab}, every {arguments.every} question(s): "
          f"{len(answered)} attempted")
    print(f"{'method':<10} {'wall s':>9} {'CPU s':>9} {'accuracy %':>11}")
    print(f"{'batched':<10} {wall:9.2f} {cpu:9.2f} {accuracy_ours:11.3f}   (medians of {arguments.repeats})")
    print(f"{'gensim':<10} {gensim_wall:9.2f} {gensim_cpu:9.2f} {accuracy_gensim:11.3f}")
    print(f"speed-up {gensim_wall / wall:.1f}x wall, {gensim_cpu / cpu:.1f}x CPU; accuracy difference "
          f"{accuracy_ours - accuracy_gensim:+.3f} points")
    print(f"questions answered differently: {len(differ)} (same questions attempted: {set(ours) == set(reference)})")
    for a, b, c, expected in differ:
        mine = ours[(a, b, c, expected)]
        print(f"  {a} : {b} :: {c} : {expected}  batched {mine.predicted} ({score(vectors, a, b, c, mine.predicted):.6f})"
              f" {'right' if mine.correct else 'wrong'}; gensim {'right' if reference[(a, b, c, expected)] else 'wrong'}"
              f" (expected scores {score(vectors, a, b, c, expected):.6f})")


if __name__ == "__main__":
    main()
