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


# --- bounded memory: tokenising in windows gives the same chunks ----------------------------------

def _random_text(seed: int, size: int) -> str:
    import random

    rng = random.Random(seed)
    vocabulary = ["alpha", "beta", "gamma.", "delta!", "x", "a-b", "long" * 8, "\n", "é🙂", "end?"]
    return " ".join(rng.choice(vocabulary) for _ in range(size)) + rng.choice(["", " ", "\n\n"])


@pytest.mark.parametrize("seed", range(12))
def test_windowed_chunks_equal_whole_text_chunks(seed):
    import random

    from densekit.chunking import chunk_stream

    text = _random_text(seed, 2_000)
    rng = random.Random(seed)
    max_tokens = rng.choice([8, 20, 50])
    overlap = rng.choice([0, 3, max_tokens - 1])
    whole = chunk_text(text, words, max_tokens, overlap)
    assert whole == list(chunk_stream([text], words, max_tokens, overlap, window=10**9))
    # Small windows, and the text handed over in odd pieces: the same chunks.
    cuts = sorted(rng.sample(range(1, len(text)), 30))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    windowed = list(chunk_stream(pieces, words, max_tokens, overlap, window=max_tokens * 40))
    assert windowed == whole


def test_a_window_with_few_tokens_ends_a_chunk_so_no_chunk_outgrows_it():
    from densekit.chunking import chunk_stream

    text = ("x" * 5000 + " ") * 10  # ten 5,000-character "words": far fewer tokens than max_tokens
    chunks = list(chunk_stream([text], words, max_tokens=100, overlap=10, window=12_000))
    assert all(len(chunk.text) <= 12_000 for chunk in chunks) and len(chunks) >= 5
    assert all(text[c.start : c.end] == c.text for c in chunks)
    covered = "".join(text[c.start : c.end] for c in chunks).replace(" ", "")
    assert covered == text.replace(" ", "")  # nothing lost between windows


def test_a_long_line_is_tokenised_a_window_at_a_time():
    from densekit.chunking import WINDOW_CHARS, chunk_stream

    seen = []

    def spans(text):
        seen.append(len(text))
        return words(text)

    text = "word " * 200_000  # 1 MB on one line
    chunks = list(chunk_stream([text], spans, max_tokens=250, overlap=32))
    assert max(seen) <= WINDOW_CHARS
    assert chunks == list(chunk_stream([text], words, max_tokens=250, overlap=32, window=10**9))
    assert chunks[-1].end == len(text) - 1


@pytest.mark.parametrize("max_seq_length, default, longest", [
    (256, 126, 254),   # all-MiniLM-L6-v2: reads 256, trained on 128
    (384, 126, 382),   # all-mpnet-base-v2: reads 384, trained on 128
    (128, 126, 126),   # the hashing test encoder
    (77, 75, 75),      # CLIP's text tower: its own maximum is shorter than 128
    (None, 126, 254),  # a model that states no length: 256 assumed
    (4, 8, 8),         # never below 8 tokens
])
def test_default_chunk_size_is_the_trained_length_within_the_models_maximum(max_seq_length, default, longest):
    from densekit.chunking import default_chunk_tokens, max_chunk_tokens

    assert default_chunk_tokens(max_seq_length) == default
    assert max_chunk_tokens(max_seq_length) == longest
