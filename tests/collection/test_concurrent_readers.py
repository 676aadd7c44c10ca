"""Readers in other processes never fail and never see a half-written state while a writer commits."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from densekit.collection import Collection

BATCH = 20


def test_readers_in_other_processes_during_commits(tmp_path, hashing_encoder):
    folder, stop = tmp_path / "c", tmp_path / "stop"
    writer = Collection.create(folder, encoder=hashing_encoder)
    writer.add([f"batch 0 text {i} about topic {i % 5}" for i in range(BATCH)], ids=[f"b0-{i}" for i in range(BATCH)])
    writer.commit()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = Path(__file__).with_name("concurrent_reader.py")
    readers = [
        subprocess.Popen([sys.executable, str(script), str(folder), str(stop), str(BATCH)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        for _ in range(2)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # commits are quick now: start them only once both readers read
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
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        assert int(out) > 0
