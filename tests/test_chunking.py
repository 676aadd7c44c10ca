from __future__ import annotations

import pytest

from densekit.chunking import chunk_text
from densekit.errors import InvalidInputError


def words(text):
    import re

    return [m.span() for m in re.finditer(r"\S+", text)]


def test_short_text_is_one_chunk():
    chunks = chunk_text("just a few words", words, max_tokens=10)
    assert [(c.text, c.start, c.end) for c in chunks] == [("just a few words", 0, 16)]


def test_windows_overlap_and_offsets_point_into_source():
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(text, words, max_tokens=30, overlap=5)
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert len(chunk.text.split()) <= 30
    for previous, following in zip(chunks, chunks[1:]):
        assert previous.text.split()[-5:] == following.text.split()[:5]
    assert chunks[0].text.split()[0] == "w0" and chunks[-1].text.split()[-1] == "w99"


def test_prefers_to_cut_after_a_sentence():
    text = " ".join(["word"] * 8) + " end. " + " ".join(["more"] * 20)
    first = chunk_text(text, words, max_tokens=10, overlap=0)[0]
    assert first.text.endswith("end.")


def test_real_tokenizer_spans_fit_the_model(minilm_encoder):
    text = "Canberra is the capital city of Australia. " * 60
    chunks = chunk_text(text, minilm_encoder.token_spans, max_tokens=64, overlap=8)
    assert len(chunks) > 5
    for chunk in chunks:
        assert minilm_encoder.count_tokens(chunk.text) <= 64
        assert text[chunk.start : chunk.end] == chunk.text


@pytest.mark.parametrize("max_tokens, overlap", [(0, 0), (10, 10), (10, -1)])
def test_bad_settings(max_tokens, overlap):
    with pytest.raises(InvalidInputError):
        chunk_text("a b c", words, max_tokens=max_tokens, overlap=overlap)
