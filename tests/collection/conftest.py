from __future__ import annotations

import pytest

from densekit.collection import Collection

TEXTS = [
    ("cat-1", "The cat sat on the warm mat by the fire.", {"animal": "cat", "year": 2001}),
    ("cat-2", "A kitten chased the cat around the garden.", {"animal": "cat", "year": 2005}),
    ("dog-1", "The dog barked at the postman every morning.", {"animal": "dog", "year": 2003}),
    ("dog-2", "Dogs love long walks in the park.", {"animal": "dog", "year": 2010}),
    ("fin-1", "Stock markets fell sharply after the bank raised interest rates.", {"topic": "finance", "year": 2008}),
    ("fin-2", "The central bank kept interest rates unchanged.", {"topic": "finance", "year": 2012}),
]


@pytest.fixture
def collection(tmp_path, hashing_encoder):
    """A committed collection of six short texts, open for writing, over the hashing encoder."""
    target = Collection.create(tmp_path / "pets", encoder=hashing_encoder)
    target.add([t for _, t, _ in TEXTS], ids=[i for i, _, _ in TEXTS], metadata=[m for _, _, m in TEXTS])
    target.commit()
    yield target
    target.close()
