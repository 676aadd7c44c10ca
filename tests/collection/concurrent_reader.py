"""Reader process for the concurrency test: searches a collection in a loop while another process commits.

Usage: python concurrent_reader.py COLLECTION STOP_FILE BATCH [shrinking]
Each observation must be a whole committed state: the count is a multiple of BATCH and every hit
resolves to a stored item; it never goes down unless ``shrinking`` (a writer that deletes too).
Prints the number of observations; any exception (or a signal) fails the process.
"""

import os
import sys
import time
from pathlib import Path

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder


def main() -> None:
    path, stop, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    shrinking = sys.argv[4:] == ["shrinking"]
    reader = Collection.open(path, readonly=True, encoder=HashingEncoder(64))
    observations, largest = 0, 0
    while not stop.exists():
        if observations == 1:
            (stop.parent / f"ready-{os.getpid()}").touch()
        count = reader.count()
        assert count % batch == 0, f"half-written state: {count} items"
        assert shrinking or count >= largest, f"went back in time: {count} < {largest}"
        largest = count
        for mode in ("dense", "sparse", "hybrid"):
            for hit in reader.search("batch text about topic 3", k=5, mode=mode):
                assert hit.text is not None and hit.id.startswith("b")
        observations += 1
        time.sleep(0.01)
    print(observations)


if __name__ == "__main__":
    main()
