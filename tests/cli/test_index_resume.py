"""`densekit index` commits as it goes: killed mid-run it keeps whole committed documents, and a
re-run encodes only the rest and ends with exactly the items of a clean run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection

DRIVER = Path(__file__).with_name("slow_index.py")
DOCUMENTS = 600
WORDS = "river stone lamp harbour violin cedar meadow copper lantern falcon orchard glacier".split()


@pytest.fixture
def corpus(tmp_path) -> Path:
    """600 small documents; every tenth is long enough to be several chunks at --max-tokens 16."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for number in range(DOCUMENTS):
        length = 60 if number % 10 == 0 else 8
        words = [WORDS[(number * 7 + position * 3) % len(WORDS)] for position in range(length)]
        (folder / f"doc{number:04d}.txt").write_text(f"Document {number}: " + " ".join(words) + ".")
    return folder


def index_command(collection: Path, corpus: Path, *extra: str) -> list[str]:
    return [sys.executable, str(DRIVER), "index", str(collection), str(corpus), "--model", "hashing:384",
            "--max-tokens", "16", "--overlap", "2", "--batch-size", "8", "--quiet", "--json", *extra]


def environment(tmp_path: Path, delay: float) -> dict[str, str]:
    return {**os.environ, "DENSEKIT_TEST_ENCODE_DELAY": str(delay),
            "DENSEKIT_TEST_ENCODED_FILE": str(tmp_path / "encoded.txt"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH")]))}


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every item: (text, metadata, parent, start, end, vector)."""
    with Collection.open(folder, readonly=True) as collection:
        ids, page = [], collection.list_ids(limit=1000)
        ids += page.ids
        while page.next:
            page = collection.list_ids(limit=1000, after=page.next)
            ids += page.ids
        items = collection.get(ids, include=["vectors"])
    return {item.id: (item.text, item.metadata, item.parent, item.start, item.end, item.vectors["text"]) for item in items}


def committed_count(folder: Path) -> int:
    try:
        with Collection.open(folder, readonly=True) as collection:
            return collection.count()
    except Exception:  # not created yet, or created but not yet committed
        return 0


def test_a_killed_index_resumes_without_encoding_committed_documents(tmp_path, corpus):
    clean_folder = tmp_path / "clean"
    clean = subprocess.run(index_command(clean_folder, corpus), env=environment(tmp_path, 0), capture_output=True,
                           text=True, check=True)
    clean_report = json.loads(clean.stdout)
    expected = snapshot(clean_folder)
    chunks_per_document = {}
    for _text, _metadata, parent, *_ in expected.values():
        chunks_per_document[parent] = chunks_per_document.get(parent, 0) + 1
    assert clean_report["added_documents"] == DOCUMENTS and len(expected) == clean_report["items"] > DOCUMENTS
    assert clean_report["commits"] >= 3  # every 256 documents, and at the end

    # Slowed down so commits of 50 documents come about 0.15 s apart; killed after the second.
    folder = tmp_path / "resumed"
    process = subprocess.Popen(index_command(folder, corpus, "--commit-every-docs", "50", "--commit-every-seconds", "1000"),
                               env=environment(tmp_path, 0.02), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while committed_count(folder) < 100 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed; slow it down more"

    # What survived the kill: whole documents only, each exactly as a clean run writes it.
    survived = snapshot(folder)
    documents = {parent for _, _, parent, *_ in survived.values()}
    assert 100 <= len(documents) < DOCUMENTS and len(documents) % 50 == 0
    for id_, (text, metadata, parent, start, end, vector) in survived.items():
        assert (text, metadata, parent, start, end) == expected[id_][:5]
        np.testing.assert_array_equal(vector, expected[id_][5])
    for parent in documents:
        assert sum(1 for entry in survived.values() if entry[2] == parent) == chunks_per_document[parent]

    resumed = subprocess.run(index_command(folder, corpus), env=environment(tmp_path, 0), capture_output=True,
                             text=True, check=True)
    report = json.loads(resumed.stdout)
    assert report["unchanged_documents"] == len(documents)
    assert report["added_documents"] == DOCUMENTS - len(documents)
    remaining_chunks = sum(count for parent, count in chunks_per_document.items() if parent not in documents)
    assert report["chunks_written"] == remaining_chunks
    assert int((tmp_path / "encoded.txt").read_text()) == remaining_chunks  # the model saw only the rest

    final = snapshot(folder)
    assert final.keys() == expected.keys()
    for id_, (text, metadata, parent, start, end, vector) in final.items():
        assert (text, metadata, parent, start, end) == expected[id_][:5]
        np.testing.assert_array_equal(vector, expected[id_][5])
    checked = CliRunner().invoke(app, ["check", str(folder)])
    assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize("option, value, expected", [
    ("--commit-every-docs", "0", "commit every 0 documents"),
    ("--commit-every-seconds", "-1", "commit every -1.0 seconds"),
    ("--commit-every-seconds", "nan", "commit every nan seconds"),
])
def test_bad_commit_intervals_are_one_line_errors(tmp_path, corpus, option, value, expected):
    completed = subprocess.run([sys.executable, "-m", "densekit.cli.main", "index", str(tmp_path / "c"), str(corpus),
                                "--model", "hashing", option, value], capture_output=True, text=True,
                               env=environment(tmp_path, 0))
    assert completed.returncode == 2 and expected in completed.stderr, completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()  # refused before anything was created
