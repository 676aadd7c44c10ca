from __future__ import annotations

import json

import pytest

from densekit.collection import Collection
from densekit.errors import InvalidInputError
from densekit.ingest import ingest


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.txt").write_text("Canberra is the capital city of Australia. " * 30)
    (folder / "nested" / "b.md").write_text("# Dune\n\nThe best-selling sci-fi book is Dune.")
    (folder / "rows.jsonl").write_text(
        json.dumps({"id": "r1", "text": "Google serves trillions of queries.", "lang": "en"}) + "\n"
        + "{not json}\n"
        + json.dumps({"text": ""}) + "\n"
        + json.dumps({"text": "A row without an id.", "year": 2020}) + "\n"
    )
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (folder / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "empty.md").write_text("   \n")
    (folder / "ignored.csv").write_text("a,b")
    return folder


def test_ingest_reports_and_skips_bad_files(tmp_path, corpus, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        report = ingest(collection, [corpus, tmp_path / "missing.txt", corpus / "ignored.csv"], max_tokens=40, overlap=5)
    problems = {path.split("/")[-1]: reason for path, reason in report.problems}
    assert problems["binary.txt"].startswith("binary file")
    assert problems["latin.txt"].startswith("not UTF-8")
    assert problems["empty.md"] == "empty file"
    assert problems["rows.jsonl:2"].startswith("invalid JSON")
    assert "non-empty" in problems["rows.jsonl:3"]
    assert problems["missing.txt"] == "no such file or folder"
    assert "unsupported file type '.csv'" in problems["ignored.csv"]
    assert report.added == 4 and report.chunks > 4

    reader = Collection.open(tmp_path / "c", readonly=True)
    row = reader.get("r1#0")
    assert row.text == "Google serves trillions of queries." and row.metadata["lang"] == "en" and row.parent == "r1"
    chunks = [hit for hit in reader.search("capital of Australia", k=50) if hit.parent.endswith("a.txt")]
    assert len(chunks) > 1
    source = (corpus / "a.txt").read_text()
    for hit in chunks:
        assert source[hit.start : hit.end] == hit.text
    assert reader.search("sci-fi book", k=1, mode="sparse")[0].metadata["file"] == "b.md"
    reader.close()


def test_reindex_skips_unchanged_and_replaces_changed(tmp_path, corpus, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        first = ingest(collection, [corpus], max_tokens=40, overlap=5)
    with Collection.open(tmp_path / "c") as collection:
        again = ingest(collection, [corpus], max_tokens=40, overlap=5)
        assert again.added == again.replaced == again.chunks == 0 and again.unchanged == first.added
        (corpus / "a.txt").write_text("Now the file talks about penguins only.")
        changed = ingest(collection, [corpus], max_tokens=40, overlap=5)
        assert changed.replaced == 1 and changed.chunks == 1
        parent = "corpus/a.txt"  # relative to the indexed folder, never a server path
        texts = [hit.text for hit in collection.search("penguins capital", k=100) if hit.parent == parent]
        assert texts == ["Now the file talks about penguins only."]


def test_overlap_must_fit(tmp_path, corpus, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as collection:
        with pytest.raises(InvalidInputError, match="overlap 50"):
            ingest(collection, [corpus], max_tokens=40, overlap=50)
