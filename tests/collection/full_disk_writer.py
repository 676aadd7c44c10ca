"""Child process for the full-disk test: limits its own file size, then indexes until a write fails.

Usage: python full_disk_writer.py COLLECTION LIMIT_BYTES
Prints the error message it got; exits 0 when a densekit error was raised cleanly.
"""

import resource
import signal
import sys

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import DensekitError


def main() -> None:
    path, limit = sys.argv[1], int(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like a full disk
    collection = Collection.open(path, encoder=HashingEncoder(64))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        for batch in range(10_000):
            collection.add([f"batch {batch} text {i} " * 20 for i in range(200)], ids=[f"x{batch}-{i}" for i in range(200)])
            collection.commit()
    except DensekitError as error:
        print(f"densekit error: {error}")
        sys.exit(0)
    sys.exit(1)


if __name__ == "__main__":
    main()
