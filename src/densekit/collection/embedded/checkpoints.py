"""Background checkpoints: a space's index written again, in a thread, from the files and the content
store alone, so a writer's commits never wait for it (vector_log.py says what a checkpoint is).

The job loads the space as a reader of generation G would (the current checkpoint plus the
generations after it, replayed from SQLite) and writes ``spaces/NAME.G.index``; it shares nothing with
the writer's in-memory index. The writer's next commit after the job finishes names the new file in
the manifest (``EmbeddedCommits._adopt_checkpoints``); until then readers keep the old checkpoint.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any

from ...files import write_atomically
from .flat_checkpoints import can_stream, write_streamed
from .persistence import file_checksum, index_file_name, load_space
from .store import CONTENT_NAME, ContentStore


def background_checkpoints() -> bool:
    """False when DENSEKIT_CHECKPOINT_BACKGROUND=0: checkpoints are written inside the commit."""
    return os.environ.get("DENSEKIT_CHECKPOINT_BACKGROUND", "1") != "0"


class CheckpointJob:
    """Writes one space's checkpoint at ``generation`` in a daemon thread."""

    def __init__(self, folder: Path, name: str, entry: dict[str, Any], generation: int, tail: int):
        self.folder, self.name, self.entry = folder, name, entry
        self.generation = generation
        self.tail = tail  # rows the checkpoint covers beyond the one it replaces
        self.vector_key = entry["index"].get("vectors")
        self.file = index_file_name(name, generation)
        self.sha256: str | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"densekit-checkpoint-{name}", daemon=True)

    def start(self) -> "CheckpointJob":
        self._thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        store = None
        try:
            # Read through once: not mapped (a map keeps every page read resident in this process).
            store = ContentStore(self.folder / CONTENT_NAME, readonly=True, mapped=False)
            if can_stream(self.folder, self.entry):  # flat: no second copy of the index (flat_checkpoints.py)
                write_atomically(self.folder / self.file, functools.partial(
                    write_streamed, self.folder, self.entry, store, self.generation))
            else:
                space = load_space(self.folder, self.name, self.entry, store, self.generation, room=False)
                write_atomically(self.folder / self.file, space.index.save)
            self.sha256 = file_checksum(self.folder / self.file)
        except BaseException as error:  # noqa: BLE001 - reported to the writer, which checkpoints again later
            self.error = error
        finally:
            if store is not None:
                store.close()
