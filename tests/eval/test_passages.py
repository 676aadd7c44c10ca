"""Evaluation passages are split exactly as ``densekit index`` splits them."""

import json

import pytest

from densekit.collection import Collection
from densekit.errors import InvalidInputError
from densekit.eval.datasets import Document, load_corpus
from densekit.eval.passages import ChunkSettings, chunk_tokens, describe_split, split_passages
from densekit.ingest import ingest


@pytest.fixture(scope="module")
def passages(shared_data):
    return load_corpus(shared_data / "quoref" / "passages.jsonl", strict=True).items[:12]


def _ingested(tmp_path, encoder, documents, **options):
    source = tmp_path / "passages.jsonl"
    source.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in documents), encoding="utf-8")
    collection = Collection.create(tmp_path / "indexed", encoder=encoder)
    ingest(collection, [source], **options)
    return collection


def _assert_same_as_ingest(collection, pieces):
    assert collection.count() == len(pieces)
    for piece in pieces:
        item = collection.get(piece.id)
        assert item is not None, piece.id
        assert (item.text, item.parent, item.start, item.end) == (piece.text, piece.parent, piece.start, piece.end)


def test_default_split_equals_densekit_index(tmp_path, passages, hashing_encoder):
    pieces = split_passages(hashing_encoder, passages, ChunkSettings())
    assert len(pieces) > 2 * len(passages)  # the hashing encoder reads 128 tokens; Quoref passages are longer
    with _ingested(tmp_path, hashing_encoder, passages) as collection:
        _assert_same_as_ingest(collection, pieces)
    for piece in pieces:
        source = next(d for d in passages if d.id == piece.parent)
        assert source.text[piece.start:piece.end] == piece.text


def test_overridden_split_equals_densekit_index_with_the_same_options(tmp_path, passages, hashing_encoder):
    settings = ChunkSettings(tokens=60, overlap=10)
    pieces = split_passages(hashing_encoder, passages, settings)
    with _ingested(tmp_path, hashing_encoder, passages, max_tokens=60, overlap=10) as collection:
        _assert_same_as_ingest(collection, pieces)
    assert len(pieces) > len(split_passages(hashing_encoder, passages, ChunkSettings()))


@pytest.mark.slow
def test_minilm_split_equals_densekit_index(tmp_path, passages, minilm_encoder):
    pieces = split_passages(minilm_encoder, passages[:4], ChunkSettings())
    # all-MiniLM-L6-v2 reads 256 tokens but was trained on 128: chunks of 128 less [CLS] and [SEP].
    assert chunk_tokens(minilm_encoder, ChunkSettings()) == 126
    with _ingested(tmp_path, minilm_encoder, passages[:4]) as collection:
        _assert_same_as_ingest(collection, pieces)


def test_no_chunk_keeps_each_passage_whole(passages, hashing_encoder):
    pieces = split_passages(hashing_encoder, passages, ChunkSettings(enabled=False))
    assert [(p.id, p.parent, p.text) for p in pieces] == [(d.id, d.id, d.text) for d in passages]


def test_split_descriptions(hashing_encoder):
    assert describe_split(hashing_encoder, ChunkSettings(), 10, 31) == (
        "passages split as densekit index does: 126-token chunks, 32 overlap (10 passages -> 31 chunks)")
    assert describe_split(hashing_encoder, ChunkSettings(tokens=50, overlap=0), 10, 40) == (
        "passages split with: 50-token chunks, 0 overlap (10 passages -> 40 chunks)")
    assert describe_split(hashing_encoder, ChunkSettings(enabled=False), 10, 10).startswith("passages indexed whole")


def test_a_passage_without_tokens_is_indexed_whole(hashing_encoder):
    pieces = split_passages(hashing_encoder, [Document("x", "\u200b\u200b")], ChunkSettings())
    assert [(p.id, p.parent, p.text) for p in pieces] == [("x#0", "x", "\u200b\u200b")]


@pytest.mark.parametrize("options, message", [
    ({"tokens": 0}, "chunk tokens must be a positive integer, got 0"),
    ({"tokens": True}, "chunk tokens must be a positive integer"),
    ({"overlap": -1}, "overlap must be an integer >= 0, got -1"),
    ({"tokens": 16, "overlap": 16}, "overlap 16 must be smaller than the chunk size 16 tokens"),
])
def test_bad_settings_are_clear_errors(options, message):
    with pytest.raises(InvalidInputError, match=message):
        ChunkSettings(**options)
