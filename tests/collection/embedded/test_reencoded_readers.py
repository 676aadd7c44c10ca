"""A space re-encoded with another backend of its model (``reencode``) must be queried with that
backend: by a reader open across the re-encoding, as by one opened afresh, and by a writer whose
transaction re-encoded and was rolled back (it goes back to the backend its manifest names)."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import ModelMismatchError


class Shifted(HashingEncoder):
    """The hashing model under another backend name, with vectors that differ (as int8 and fp32 do)."""

    backend = "hashing-shifted"

    def encode_batch(self, texts):
        vectors = super().encode_batch(texts) + 0.05
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Models:
    """Loads the encoder a manifest names (``collection.models``), for both backends."""

    def encoder(self, reference=None, backend=None):
        return Shifted(16) if backend == "hashing-shifted" else HashingEncoder(16)


def _hits(collection):
    return [(hit.id, round(hit.score, 6)) for hit in collection.search("apple", k=4, mode="dense")]


@pytest.fixture
def folder(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder(16)) as collection:
        collection.add(["apple river", "stone cloud", "tiger apple music", "paper light"], ids=list("abcd"))
    return folder


def test_a_reader_open_across_a_reencoding_queries_with_the_new_backend(folder):
    with Collection.open(folder, readonly=True, encoder=HashingEncoder(16), models=Models()) as reader:
        before = _hits(reader)
        with Collection.open(folder) as writer:
            writer.reencode(encoder=Shifted(16))
            writer.commit()
        with pytest.raises(ModelMismatchError):  # what it was opened with no longer serves the space
            Collection.open(folder, readonly=True, encoder=HashingEncoder(16))
        with Collection.open(folder, readonly=True, encoder=Shifted(16)) as fresh:
            assert _hits(reader) == _hits(fresh) != before
        assert reader.encoder().backend == "hashing-shifted"


def test_a_rolled_back_reencoding_leaves_the_writer_encoding_with_the_manifests_backend(folder):
    given = HashingEncoder(16)
    with Collection.open(folder, encoder=given) as writer:
        with pytest.raises(KeyError):
            with writer.transaction():
                writer.reencode(encoder=Shifted(16))
                raise KeyError("abort")
        assert writer.encoder() is given  # the encoder it was opened with, not one loaded again
        writer.add(["apple tiger"], ids=["e"])
        writer.commit()
        stored = writer.get("e", include=["vectors"]).vectors["text"]
    np.testing.assert_allclose(stored, HashingEncoder(16).encode(["apple tiger"])[0], atol=1e-6)
    with Collection.open(folder, readonly=True) as fresh:
        assert fresh.check() == []
