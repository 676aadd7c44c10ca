"""Readers in other processes never fail and never see a half-written state while a writer commits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from densekit.collection import Collection

BATCH = 20


def start_readers(tmp_path: Path, folder: Path, stop: Path, *options: str) -> list[subprocess.Popen]:
    """Two reader processes searching ``folder`` in a loop, started once both have read."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = Path(__file__).with_name("concurrent_reader.py")
    readers = [
        subprocess.Popen([sys.executable, str(script), str(folder), str(stop), str(BATCH), *options],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # commits are quick now: start them only once both readers read
    return readers


def finish(readers: list[subprocess.Popen]) -> None:
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        assert int(out) > 0


def test_readers_in_other_processes_during_commits(tmp_path, hashing_encoder):
    folder, stop = tmp_path / "c", tmp_path / "stop"
    writer = Collection.create(folder, encoder=hashing_encoder)
    writer.add([f"batch 0 text {i} about topic {i % 5}" for i in range(BATCH)], ids=[f"b0-{i}" for i in range(BATCH)])
    writer.commit()
    readers = start_readers(tmp_path, folder, stop)
    try:
        for batch in range(1, 40):
            writer.add([f"batch {batch} text {i} about topic {i % 5}" for i in range(BATCH)],
                       ids=[f"b{batch}-{i}" for i in range(BATCH)])
            if batch % 4 == 0:  # replace a whole batch too, so readers race deletes as well as adds
                writer.upsert([f"batch {batch} rewritten {i} topic 3" for i in range(BATCH)],
                              ids=[f"b{batch - 1}-{i}" for i in range(BATCH)])
            writer.commit()
    finally:
        stop.touch()
        writer.close()
    finish(readers)


def test_readers_in_other_processes_while_compact_shrinks_the_file(tmp_path, hashing_encoder):
    # Readers map the content store into memory (store.py): a file that VACUUM truncates under them
    # must be re-mapped by SQLite, never read past its end (that would be a SIGBUS, not an error).
    folder, stop = tmp_path / "c", tmp_path / "stop"
    writer = Collection.create(folder, encoder=hashing_encoder)
    writer.add([f"batch 0 text {i} about topic {i % 5}" for i in range(BATCH)], ids=[f"b0-{i}" for i in range(BATCH)])
    writer.commit()
    content = folder / "content.sqlite"
    readers = start_readers(tmp_path, folder, stop, "shrinking")
    shrunk = 0
    try:
        for batch in range(1, 9):
            ids = [f"b{batch}-{i}" for i in range(BATCH)]
            filler = " ".join(f"word{n} about topic 3" for n in range(400))  # pages enough to shrink by
            writer.add([f"batch {batch} text {i} {filler}" for i in range(BATCH)], ids=ids)
            writer.compact()  # folds the WAL in: the file holds the batch
            grown = content.stat().st_size
            writer.delete(ids)
            writer.compact()
            shrunk += content.stat().st_size < grown
    finally:
        stop.touch()
        writer.close()
    finish(readers)
    assert shrunk > 0  # the file was truncated while the readers searched
