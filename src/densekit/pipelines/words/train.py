"""Train word2vec (skip-gram or CBOW) with gensim on a streamed corpus, reporting progress and loss.

Progress counts tokens read across every pass over the corpus: the vocabulary scan (and the phrase
scan when asked), then each training epoch. The total is unknown (None) until the first scan ends.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ...errors import InvalidInputError
from ...progress import ProgressCallback, report
from .corpus import SentenceStream
from .vectors import save_vectors

ARCHITECTURES = ("sg", "cbow")
# Report at most every this many tokens: a callback per sentence would cost more than the bar is worth.
_REPORT_EVERY = 20_000

EpochCallback = Callable[[int, float], None]


@dataclass
class TrainingResult:
    """What a training run made and how long it took."""

    model: Any  # gensim.models.Word2Vec
    architecture: str
    seconds: float
    corpus_words: int
    corpus_sentences: int
    vocabulary: int
    epoch_losses: list[float] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def vectors(self):
        """The trained gensim KeyedVectors."""
        return self.model.wv

    def summary(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "dimension": self.model.vector_size,
            "vocabulary": self.vocabulary,
            "corpus_words": self.corpus_words,
            "corpus_sentences": self.corpus_sentences,
            "epochs": len(self.epoch_losses),
            "epoch_losses": [round(loss, 1) for loss in self.epoch_losses],
            "seconds": round(self.seconds, 2),
            "words_per_second": round(self.corpus_words * max(1, len(self.epoch_losses)) / max(self.seconds, 1e-9)),
            "files": self.files,
        }


class _WordCounter:
    """Counts tokens as the stream yields them and forwards throttled progress reports."""

    def __init__(self, progress: ProgressCallback | None):
        self.progress = progress
        self.done = 0
        self.total: int | None = None
        self._last = 0

    def __call__(self, words: int) -> None:
        self.done += words
        if self.done - self._last >= _REPORT_EVERY:
            self._last = self.done
            report(self.progress, self.done, self.total)

    def flush(self) -> None:
        self._last = self.done
        report(self.progress, self.done, self.total)


def _epoch_callback(on_epoch: EpochCallback | None, losses: list[float], counter: _WordCounter):
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochLoss(CallbackAny2Vec):
        # gensim's loss is cumulative over a train() call; the per-epoch loss is the difference.
        def __init__(self):
            self.previous = 0.0

        def on_epoch_end(self, model):
            cumulative = model.get_latest_training_loss()
            losses.append(cumulative - self.previous)
            self.previous = cumulative
            counter.flush()
            if on_epoch is not None:
                on_epoch(len(losses), losses[-1])

    return EpochLoss()


def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """Where a training run writes each format: OUT as given (native), OUT.vec (text), OUT.bin (binary).

    A trailing ``.model`` is dropped before adding the word2vec suffixes: news.model -> news.vec, news.bin.
    """
    native = Path(out)
    stem = native.with_suffix("") if native.suffix == ".model" else native
    return {
        "native": native,
        "text": stem.with_name(stem.name + ".vec"),
        "binary": stem.with_name(stem.name + ".bin"),
    }


def train_word2vec(
    corpus: Sequence[str | os.PathLike],
    out: str | os.PathLike | None = None,
    architecture: str = "sg",
    dimension: int = 100,
    window: int = 5,
    min_count: int = 5,
    epochs: int = 5,
    negative: int = 5,
    sample: float = 1e-3,
    phrases: bool = False,
    workers: int | None = None,
    seed: int = 1,
    progress: ProgressCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainingResult:
    """Train word2vec on text files, folders or Wikipedia ``*.xml.bz2`` dumps, streamed from disk.

    Args:
        corpus: files and folders to read (folders are walked for .txt/.md/.cor/... files).
        out: when given, the native model is saved there, plus word2vec text (``.vec``) and
            binary (``.bin``) files beside it (see ``output_paths``).
        architecture: "sg" (skip-gram) or "cbow".
        dimension: vector size. window: context words each side. min_count: rarer words are dropped.
        epochs: passes over the corpus. negative: negative samples. sample: down-sampling threshold.
        phrases: first learn frequent bigrams (gensim Phrases), e.g. "new_york", and train on them.
        workers: training threads (default: the machine's cores, at most 4).
        seed: random seed (exact repeatability also needs workers=1 and a fixed PYTHONHASHSEED).
        progress: ``progress(tokens_done, tokens_total)`` over all passes; total None until known.
        on_epoch: ``on_epoch(epoch_number, loss)`` after each epoch.

    Returns:
        TrainingResult with the gensim model, timing, per-epoch losses and the files written.

    Example:
        >>> result = train_word2vec(["bbc/"], out="bbc.model", architecture="cbow", epochs=3)
        >>> result.vectors.most_similar("monday", topn=3)
    """
    from gensim.models import Word2Vec

    if architecture not in ARCHITECTURES:
        raise InvalidInputError(f"unknown architecture {architecture!r}; valid: {', '.join(ARCHITECTURES)}")
    for name, value in (("dimension", dimension), ("window", window), ("min_count", min_count), ("epochs", epochs)):
        if value < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {value}")
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    counter = _WordCounter(progress)
    stream = SentenceStream(corpus, on_words=counter)
    started = time.perf_counter()
    report(progress, 0, None)
    if phrases:
        from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases

        phrase_model = Phrases(stream, min_count=5, threshold=10.0, connector_words=ENGLISH_CONNECTOR_WORDS)
        # The phrase scan counted raw tokens; phrased passes count fewer (joined) tokens.
        stream = SentenceStream(corpus, transform=phrase_model.freeze().__getitem__, on_words=counter)
    model = Word2Vec(
        vector_size=dimension,
        window=window,
        min_count=min_count,
        sg=1 if architecture == "sg" else 0,
        negative=negative,
        sample=sample,
        workers=workers,
        seed=seed,
        compute_loss=True,
    )
    model.build_vocab(stream)
    if not model.wv.index_to_key:
        raise InvalidInputError(
            f"no word occurs at least min_count={min_count} times in the corpus; lower --min-count or add text"
        )
    counter.total = counter.done + model.corpus_total_words * epochs
    counter.flush()
    losses: list[float] = []
    model.train(
        stream,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=epochs,
        compute_loss=True,
        callbacks=[_epoch_callback(on_epoch, losses, counter)],
    )
    seconds = time.perf_counter() - started
    report(progress, counter.total, counter.total)
    result = TrainingResult(
        model=model,
        architecture=architecture,
        seconds=seconds,
        corpus_words=model.corpus_total_words,
        corpus_sentences=model.corpus_count,
        vocabulary=len(model.wv.index_to_key),
        epoch_losses=losses,
    )
    if out is not None:
        result.files = save_training_outputs(model, out)
    return result


def save_training_outputs(model, out: str | os.PathLike) -> dict[str, str]:
    """Save a trained gensim Word2Vec as native model + word2vec text + binary; return the paths."""
    paths = output_paths(out)
    paths["native"].parent.mkdir(parents=True, exist_ok=True)
    model.save(str(paths["native"]))
    save_vectors(model.wv, paths["text"], format="text")
    save_vectors(model.wv, paths["binary"], format="binary")
    return {format: str(path) for format, path in paths.items()}
