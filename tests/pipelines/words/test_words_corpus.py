"""Streaming corpus: tokenisation, sentence splitting, folder walks, compressed files, wiki dumps."""

from __future__ import annotations

import bz2
import gzip
import itertools

import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.words.corpus import SentenceStream, find_files, split_sentences, tokenize


def test_tokenize_lowercases_and_splits_on_non_letters():
    assert tokenize("The Queen's speech, 2004! new_york") == ["the", "queen", "s", "speech", "2004", "new", "york"]


def test_split_sentences_splits_lines_and_sentence_ends():
    text = "First line. Second sentence! third stays\n\nNext paragraph? Yes."
    assert list(split_sentences(text)) == ["First line.", "Second sentence! third stays", "Next paragraph?", "Yes."]


def test_stream_walks_folders_reads_compressed_files_and_can_be_read_twice(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("Cats sleep. Dogs bark.\n")
    with gzip.open(tmp_path / "a" / "two.txt.gz", "wt") as handle:
        handle.write("Birds sing.\n")
    (tmp_path / "a" / "image.png").write_bytes(b"\x89PNG not text")
    counted: list[int] = []
    stream = SentenceStream([tmp_path], on_words=counted.append)
    first = list(stream)
    assert first == [["cats", "sleep"], ["dogs", "bark"], ["birds", "sing"]]
    assert list(stream) == first  # re-iterable: word2vec makes several passes
    assert sum(counted) == 12


def test_stream_applies_transform(tmp_path):
    (tmp_path / "t.txt").write_text("new york is big\n")
    stream = SentenceStream([tmp_path / "t.txt"], transform=lambda tokens: [t.upper() for t in tokens])
    assert list(stream) == [["NEW", "YORK", "IS", "BIG"]]


@pytest.mark.slow
def test_wiki_dump_yields_plain_article_text():
    from gensim.test.utils import datapath

    dump = datapath("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2")
    sentences = list(itertools.islice(SentenceStream([dump]), 200))
    words = {word for sentence in sentences for word in sentence}
    assert "anarchism" in words  # the first real article (the one before is a redirect)
    assert not words & {"redirect", "ref", "http"}  # markup and redirects are gone


def test_small_wiki_dump_written_here_is_read(tmp_path):
    page = (
        "<mediawiki xmlns=\"http://www.mediawiki.org/xml/export-0.10/\"><page><title>Cat</title><ns>0</ns><id>1</id><revision><text>"
        "The '''cat''' is a [[mammal]]. It purrs.</text></revision></page>"
        "<page><title>Old</title><ns>0</ns><id>2</id><revision><text>#REDIRECT [[Cat]]</text></revision></page>"
        "</mediawiki>"
    )
    path = tmp_path / "tiny-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(page.encode()))
    assert list(SentenceStream([path])) == [["the", "cat", "is", "a", "mammal"], ["it", "purrs"]]


def test_missing_path_and_empty_folder_are_named(tmp_path):
    with pytest.raises(InvalidInputError, match="nowhere"):
        find_files([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no text files"):
        find_files([tmp_path / "empty"])
    with pytest.raises(InvalidInputError, match="no corpus"):
        find_files([])
