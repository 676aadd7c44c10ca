"""The real `densekit index` CLI with the hashing encoder slowed down and counted, for the resume test.

DENSEKIT_TEST_ENCODE_DELAY: seconds each model call sleeps (so a test can kill the run between
commits). DENSEKIT_TEST_ENCODED_FILE: at a clean exit, the number of texts encoded is written there.
Arguments are the CLI's: ``python slow_index.py index COLLECTION DOCS ...``.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

from densekit.cli.main import main
from densekit.encoders.hashing import HashingEncoder

DELAY = float(os.environ.get("DENSEKIT_TEST_ENCODE_DELAY", "0"))
ENCODED_FILE = os.environ.get("DENSEKIT_TEST_ENCODED_FILE")
encoded = [0]
original = HashingEncoder.encode_batch


def counted_encode_batch(self, texts):
    time.sleep(DELAY)
    encoded[0] += len(texts)
    return original(self, texts)


HashingEncoder.encode_batch = counted_encode_batch
if ENCODED_FILE:
    atexit.register(lambda: Path(ENCODED_FILE).write_text(str(encoded[0])))

if __name__ == "__main__":
    sys.argv = ["densekit", *sys.argv[1:]]
    main()
