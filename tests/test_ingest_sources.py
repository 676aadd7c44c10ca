"""The document hash an index run compares: its definition is what collections already store."""

from __future__ import annotations

import hashlib
import json

import pytest

from densekit.ingest_sources import _DocumentHasher, document_hash

TEXTS = [
    "",
    "plain words",
    'quotes " and back\\slashes \\" in a row',
    "lines\nand\r\nreturns\tand tabs",
    "rare controls \x00 \x01 \x08 \x0b \x0c \x1f and \x7f (not escaped)",
    "naïve café ☕ 𝄞 and \u2028 \u2029",
    '"\\\n\r\t\b\f',
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_hash_is_sha256_of_the_text_and_metadata_as_sorted_json(text):
    metadata = {"title": "Dune \"1965\"", "source": "books.jsonl", "chunk": 2, "tags": ["a", "é"]}
    expected = hashlib.sha256(json.dumps([text, metadata], sort_keys=True, ensure_ascii=False).encode("utf-8"))
    assert document_hash(text, metadata) == expected.hexdigest()


def test_a_text_hashed_in_pieces_hashes_as_the_whole():
    text = "".join(TEXTS)
    hasher = _DocumentHasher()
    for start in range(0, len(text), 7):  # pieces cut anywhere, escapes and surrogate pairs included
        hasher.text(text[start : start + 7])
    assert hasher.finish({"k": 1}) == document_hash(text, {"k": 1})


def test_a_lone_surrogate_is_refused_as_before():
    with pytest.raises(UnicodeEncodeError):
        document_hash("a \ud800 b", {})
