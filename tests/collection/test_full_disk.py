"""A write that runs out of space fails with a clear error and leaves the previous state intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from densekit.collection import Collection
from densekit.collection.check import check_collection


def test_out_of_space_is_a_clear_error_and_loses_nothing(collection, tmp_path):
    folder = tmp_path / "pets"
    before = {hit.id for hit in collection.search("cat", k=10)}
    collection.close()
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("full_disk_writer.py")), str(folder), str(2_000_000)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # SQLite words it "disk I/O error" or "database or disk is full", the OS "File too large".
    assert completed.stdout.startswith("densekit error: could not")
    assert "Traceback" not in completed.stderr
    assert check_collection(folder) == []
    reader = Collection.open(folder, readonly=True)
    assert {"cat-1", "cat-2", "dog-1", "dog-2", "fin-1", "fin-2"} <= {reader.get(i).id for i in before}
    reader.close()
    # The collection is still writable once space is back.
    with Collection.open(folder) as writer:
        writer.add(["after the disk filled up"], ids=["after"])
    assert Collection.open(folder, readonly=True).get("after") is not None
