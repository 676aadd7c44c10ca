"""Child process for the crash tests: adds, deletes and commits batches forever, logging each commit.

Usage: python crash_writer.py COLLECTION LOG FIRST_BATCH
"""

import os
import sys

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder

BATCH = 20


def main() -> None:
    path, log, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    collection = Collection.open(path, encoder=HashingEncoder(64))
    with open(log, "a") as handle:
        while True:
            collection.add(
                [f"batch {batch} item {i} about topic {i % 7}" for i in range(BATCH)],
                ids=[f"b{batch}-{i}" for i in range(BATCH)],
                metadata=[{"batch": batch, "i": i} for i in range(BATCH)],
            )
            collection.delete([f"b{batch}-0"])  # every committed batch keeps BATCH - 1 items
            collection.commit()
            handle.write(f"{batch}\n")
            handle.flush()
            os.fsync(handle.fileno())
            batch += 1


if __name__ == "__main__":
    main()
