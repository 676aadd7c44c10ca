"""``info()`` (the service's collection info) and ``compact()`` read the folder's size while
checkpoint jobs and other handles write in it: a file gone between listing and reading it (a job's
temporary file renamed to its checkpoint) is not an error."""

from __future__ import annotations

import threading

from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder


def test_files_coming_and_going_while_the_size_is_read_are_not_an_error(tmp_path):
    folder = tmp_path / "c"
    with Collection.create(folder, encoder=HashingEncoder()) as collection:
        collection.add(["apple river"], ids=["a"])
    stop = threading.Event()

    def checkpoint_jobs():  # temporary files written, then renamed away, again and again
        n = 0
        while not stop.is_set():
            temporary = folder / "spaces" / f".text.{n}.index.{n:08x}.tmp"
            temporary.write_bytes(b"x")
            temporary.unlink()
            n += 1

    job = threading.Thread(target=checkpoint_jobs)
    job.start()
    try:
        with Collection.open(folder, readonly=True) as reader:
            for _ in range(300):
                assert reader.info()["size_bytes"] > 0
    finally:
        stop.set()
        job.join()
