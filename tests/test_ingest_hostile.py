"""Ingest, round two of hostile input: relative ids (and the migration from absolute ones), duplicate ids,
non-storable metadata, a user's own ``chunk`` key, and bounded arguments. Every case is a listed problem
with its file (and line) while the rest of the run is indexed."""

from __future__ import annotations

import json

import pytest

from densekit.collection import Collection, Item
from densekit.errors import InvalidInputError
from densekit.ingest import ingest
from densekit.ingest_sources import document_hash


def all_items(collection) -> list[Item]:
    return [item for batch in collection.store.iterate(collection.view) for item in batch]


@pytest.fixture
def collection(tmp_path, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as target:
        yield target


def write_jsonl(path, rows) -> None:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))


# --- ids relative to the indexed root ---------------------------------------------------------------

def test_ids_are_relative_to_each_root_and_name_no_server_path(tmp_path, collection, monkeypatch):
    for folder, name, text in [("news", "x.txt", "Rain is expected on Monday."), ("articles/deep", "y.md", "Owls hunt at night.")]:
        (tmp_path / "data" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / folder / name).write_text(text)
    write_jsonl(tmp_path / "data" / "rows.jsonl", [{"text": "A row without an id."}])
    report = ingest(collection, [tmp_path / "data" / "news", tmp_path / "data" / "articles/", tmp_path / "data" / "rows.jsonl"])
    assert report.added == 3 and not report.problems
    items = {item.id: item for item in all_items(collection)}
    assert set(items) == {"news/x.txt#0", "articles/deep/y.md#0", "rows.jsonl:1#0"}
    assert items["news/x.txt#0"].parent == "news/x.txt" and items["news/x.txt#0"].metadata["source"] == "news/x.txt"
    assert items["rows.jsonl:1#0"].metadata["source"] == "rows.jsonl"
    assert str(tmp_path) not in json.dumps([(item.id, item.parent, item.metadata) for item in items.values()])
    monkeypatch.chdir(tmp_path / "data" / "news")
    report = ingest(collection, ["."])
    assert report.added == 1 and collection.get("x.txt#0").text == "Rain is expected on Monday."


def test_reindexing_migrates_absolute_ids_to_relative_ones(tmp_path, collection):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("Canberra is the capital of Australia.")
    write_jsonl(folder / "rows.jsonl", [{"text": "A row without an id."}, {"id": "kept", "text": "A row with one."}])
    # What older densekit wrote: absolute paths as ids and sources.
    old_text = str((folder / "a.txt").resolve())
    old_row = f"{(folder / 'rows.jsonl').resolve()}:1"
    for parent, text in [(old_text, "Canberra is the capital of Australia."), (old_row, "A row without an id.")]:
        metadata = {"source": parent.rpartition(":")[0] if parent == old_row else parent, "chunk": 0}
        collection.add_items([Item(f"{parent}#0", text, metadata, parent=parent, start=0, end=len(text),
                                   hash=document_hash(text, metadata))])
    collection.commit()
    report = ingest(collection, [folder])
    assert (report.migrated, report.added) == (2, 1), report.as_dict()
    ids = {item.id for item in all_items(collection)}
    assert ids == {"docs/a.txt#0", "docs/rows.jsonl:1#0", "kept#0"}
    again = ingest(collection, [folder])
    assert again.unchanged == 3 and again.migrated == again.added == again.replaced == 0


# --- duplicate ids in one run -------------------------------------------------------------------------

def test_the_first_of_duplicate_ids_wins_and_the_others_are_listed(tmp_path, hashing_encoder):
    folder = tmp_path / "dups"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [{"id": "d", "text": "first d"}, {"id": "e", "text": "only e"}, {"id": "d", "text": "second d"}])
    write_jsonl(folder / "b.jsonl", [{"id": "d", "text": "third d, another file"}, {"id": 7, "text": "seven"}, {"id": "7", "text": "seven again"}])
    for run in range(3):  # the same survivor every time: re-indexing no longer swaps them
        with Collection.open(tmp_path / "c") if run else Collection.create(tmp_path / "c", encoder=hashing_encoder) as target:
            report = ingest(target, [folder])
            assert target.get("d#0").text == "first d" and target.get("7#0").text == "seven"
            assert target.count() == 3
        duplicates = {path.rpartition("/")[2]: reason for path, reason in report.problems}
        assert set(duplicates) == {"a.jsonl:3", "b.jsonl:1", "b.jsonl:3"}, report.problems
        assert duplicates["a.jsonl:3"].startswith("duplicate id 'd': first seen at ") and "a.jsonl:1" in duplicates["a.jsonl:3"]


# --- metadata that cannot be stored -------------------------------------------------------------------

@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", '{"deep": [1, NaN]}'])
def test_non_finite_metadata_rows_are_listed_and_the_rest_indexed(tmp_path, collection, value):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"id": "ok", "text": "A fine row.", "v": 1},
                       '{"id": "bad", "text": "A poisoned row.", "v": ' + value + "}",
                       {"id": "also-ok", "text": "Another fine row.", "v": 2}])
    report = ingest(collection, [path])
    assert report.added == 2 and collection.get("bad#0") is None
    assert report.problems == [(f"{path}:2", report.problems[0][1])] and "must be finite" in report.problems[0][1]
    collection.commit()
    assert {hit.id for hit in collection.search("row", k=5, where={"v": {"$gte": 1}})} == {"ok#0", "also-ok#0"}


@pytest.mark.parametrize("row", ['{"id": "s", "text": "bad \\ud800 text"}', '{"id": "\\udfff", "text": "t"}',
                                 '{"id": "m", "text": "t", "\\ud800": 1}'])
def test_lone_surrogates_are_listed(tmp_path, collection, row):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [row, {"id": "fine", "text": "a fine row"}])
    report = ingest(collection, [path])
    assert report.added == 1 and [where for where, _ in report.problems] == [f"{path}:1"]
    assert "lone surrogate" in report.problems[0][1]


def test_a_bad_line_in_a_jsonl_file_spoils_only_that_line(tmp_path, collection):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"text": "before"}\n{"text": "caf\xe9"}\n{"text": "after"}\n')
    report = ingest(collection, [path])
    assert report.added == 2 and report.problems == [(f"{path}:2", "not UTF-8 text (byte 13 of the line)")]


# --- the user's own chunk key -------------------------------------------------------------------------

def test_a_users_chunk_key_is_kept_and_listed(tmp_path, collection):
    path = tmp_path / "rows.jsonl"
    long = "Sentence number %d is here. "
    write_jsonl(path, [{"id": "mine", "text": "".join(long % n for n in range(60)), "chunk": "intro"},
                       {"id": "plain", "text": "".join(long % n for n in range(60))}])
    report = ingest(collection, [path], max_tokens=40, overlap=4)
    mine = [item for item in all_items(collection) if item.parent == "mine"]
    plain = sorted((item for item in all_items(collection) if item.parent == "plain"), key=lambda item: item.start)
    assert len(mine) > 3 and all(item.metadata["chunk"] == "intro" for item in mine)
    assert [item.metadata["chunk"] for item in plain] == list(range(len(plain)))
    assert report.added == 2 and [where for where, _ in report.problems] == [f"{path}:1"]
    assert "metadata key 'chunk' is the document's own and is kept" in report.problems[0][1]


# --- bounded arguments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    ({"max_tokens": 99999999999999999999}, "max_tokens is 99999999999999999999; expected 1 to"),
    ({"max_tokens": 0}, "max_tokens is 0"),
    ({"overlap": -1}, "overlap -1 must be 0 or more"),
    ({"max_tokens": 10, "overlap": 10}, "smaller than the chunk size 10"),
])
def test_chunk_arguments_are_bounded(tmp_path, collection, options, message):
    (tmp_path / "a.txt").write_text("words " * 20)
    with pytest.raises(InvalidInputError, match=message):
        ingest(collection, [tmp_path / "a.txt"], **options)


@pytest.mark.parametrize("change", ["removed", "not UTF-8 any more"])
def test_a_file_changed_between_its_hash_and_its_chunks_is_listed_and_the_run_goes_on(tmp_path, collection, monkeypatch, change):
    """A file is read once for its hash and again for its chunks: an editor or a sync tool changing it
    in between stopped the whole run with a traceback (unusable files are listed, never fatal)."""
    import densekit.ingest as ingest_module

    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / f"{name}.txt").write_text(f"the note called {name}")
    real = ingest_module._ingest_document

    def changing_b(target, document, *arguments, **options):
        if document.id.endswith("b.txt"):
            path = folder / "b.txt"
            path.unlink() if change == "removed" else path.write_bytes(b"\xff\xfe broken")
        return real(target, document, *arguments, **options)

    monkeypatch.setattr(ingest_module, "_ingest_document", changing_b)
    report = ingest(collection, [folder])
    assert report.added == 2 and len(report.problems) == 1
    path, reason = report.problems[0]
    assert path.endswith("b.txt") and "changed or removed while it was read" in reason
    collection.commit()
    assert sorted(item.parent.rsplit("/", 1)[-1] for item in all_items(collection)) == ["a.txt", "c.txt"]
