"""Hostile and malformed input files: ingestion reports each bad file and never crashes or hangs."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from densekit.collection import Collection
from densekit.ingest import ingest


@pytest.fixture
def collection(tmp_path, hashing_encoder):
    with Collection.create(tmp_path / "c", encoder=hashing_encoder) as target:
        yield target


def test_hostile_files_are_reported_not_fatal(tmp_path, collection):
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "nul.txt").write_bytes(b"text\x00with nul")
    (folder / "invalid.txt").write_bytes(b"valid start \xc3\x28 invalid utf-8")
    (folder / "truncated.jsonl").write_text('{"text": "complete row"}\n{"text": "cut off in the mid')
    (folder / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    (folder / "huge.jsonl").write_text(json.dumps({"text": "word " * 50, "blob": ["x"] * 200_000}) + "\n")
    (folder / "long.txt").write_text("long line " * 500_000)  # one 5 MB line (benchmarks/reliability: 50 MB)
    (folder / "not-an-object.jsonl").write_text('"just a string"\n[1, 2]\n{"text": 5}\n')
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # a symlink loop
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    report = ingest(collection, [folder], max_tokens=64, overlap=8)
    reasons = {path.replace(str(folder) + "/", ""): reason for path, reason in report.problems}
    assert reasons["nul.txt"].startswith("binary file")
    assert reasons["invalid.txt"].startswith("not UTF-8")
    assert reasons["truncated.jsonl:2"].startswith("invalid JSON")
    assert reasons["deep.jsonl:1"] in ("JSON nested too deeply",) or reasons["deep.jsonl:1"].startswith("expected an object")
    assert all(reasons[f"not-an-object.jsonl:{n}"].startswith("expected an object") for n in (1, 2, 3))
    parents = {item.parent for batch in collection.store.iterate(collection.view) for item in batch}
    assert any(parent.endswith("long.txt") for parent in parents)
    assert any(parent.endswith("huge.jsonl:1") for parent in parents)
    assert collection.get("hostile/truncated.jsonl:1#0").text == "complete row"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_reported(tmp_path, collection):
    path = tmp_path / "secret.txt"
    path.write_text("hidden")
    path.chmod(0)
    report = ingest(collection, [path])
    assert report.problems and report.problems[0][1].startswith("cannot read")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".md", ".jsonl"]))
def test_random_bytes_never_crash(tmp_path, collection, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    report = ingest(collection, [path], max_tokens=32, overlap=4)
    assert report.added + report.unchanged + report.replaced + len(report.problems) >= 1 or not data.strip()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                  lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                  max_leaves=10), max_size=8))
def test_random_json_rows_never_crash(tmp_path, collection, rows):
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = ingest(collection, [path], max_tokens=32, overlap=4)
    good = sum(1 for row in rows if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip())
    assert report.added + report.replaced + report.unchanged + len(report.problems) >= min(1, len(rows))
    assert report.added + report.replaced + report.unchanged <= good
