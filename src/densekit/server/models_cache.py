"""Models load once per server and are shared; concurrent requests to one model are batched.

``ModelCache`` is the server's ``loaded_models.Models`` (at most ``--max-models`` kept, least
recently used released first) with the batching below on top.

Each model gets one worker thread that owns it: requests queue their texts, the worker drains
whatever is waiting into one model call and hands each request its rows. One model call at a time
means fast tokenizers ("Already borrowed") and torch modules are never entered from two threads,
and under load many small requests become one efficient batch.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..encoders.base import Encoder, EncoderInfo


@dataclass
class _Job:
    texts: list[str]
    future: Future


class BatchQueue:
    """A worker thread that runs ``encode_batch`` over the texts of all waiting jobs at once."""

    def __init__(self, encode_batch: Callable[[list[str]], np.ndarray], max_batch: int, lock: threading.Lock):
        self._encode_batch = encode_batch
        self._max_batch = max(1, max_batch)
        self._lock = lock
        self._queue: "queue.Queue[_Job | None]" = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        #: Model calls made and texts encoded (the load benchmark reports the mean batch size).
        self.calls = 0
        self.texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode texts (not normalised) through the shared worker; blocks until done."""
        job = _Job(list(texts), Future())
        self._queue.put(job)
        self._ensure_worker()  # after the put: a worker that is just stopping leaves it to a new one
        return job.future.result()

    def close(self) -> None:
        """Stop the worker once the jobs already queued are served (a later ``encode`` starts a new one)."""
        thread = self._thread
        self._queue.put(None)
        if thread is not None:
            thread.join(timeout=10)

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="densekit-encode", daemon=True)
                self._thread.start()

    def _stop_if_idle(self) -> bool:
        """True (and the worker forgotten) when nothing is queued; checked under the start lock, so
        a job queued meanwhile either is seen here or finds no worker and starts one."""
        with self._start_lock:
            if self._queue.empty():
                self._thread = None
                return True
            return False

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                if self._stop_if_idle():
                    return
                continue
            jobs = [job]
            size = len(job.texts)
            # Take what is already waiting (no timed wait: an idle server answers at once).
            while size < self._max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                jobs.append(waiting)
                size += len(waiting.texts)
            self._serve(jobs)

    def _serve(self, jobs: list[_Job]) -> None:
        texts = [text for job in jobs for text in job.texts]
        try:
            with self._lock:
                vectors = np.asarray(self._encode_batch(texts), dtype=np.float32)
            self.calls += 1
            self.texts += len(texts)
        except BaseException as error:  # every waiting request learns of the failure
            for job in jobs:
                job.future.set_exception(error)
            return
        start = 0
        for job in jobs:
            job.future.set_result(vectors[start : start + len(job.texts)])
            start += len(job.texts)


class SharedEncoder(Encoder):
    """An Encoder whose model calls go through a model's BatchQueue; otherwise it is the model.

    It reports the inner encoder's info, so a collection accepts it as the encoder of its space.
    """

    def __init__(self, inner: Encoder, batches: BatchQueue, lock: threading.Lock):
        self.inner = inner
        self.batches = batches
        self.lock = lock
        self.model_name = inner.model_name
        self.dimension = inner.dimension
        self.backend = inner.backend
        self.max_seq_length = inner.max_seq_length
        self.default_batch_size = inner.default_batch_size

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return self.batches.encode(texts)

    def length(self, text: str) -> int:
        return self.inner.length(text)

    def info(self) -> EncoderInfo:
        return self.inner.info()

    def count_tokens(self, texts: list[str]) -> int:
        """Total model tokens in texts (words when the model has no tokenizer), under the model's lock."""
        counter = getattr(self.inner, "count_tokens", None)  # only models with a tokenizer have one
        if counter is None:
            return sum(len(text.split()) for text in texts)
        with self.lock:
            return sum(counter(text) for text in texts)


class LockedEncoder:
    """Any encoder (DPR, CLIP, ...) whose encoding methods run one call at a time under a lock.

    Used for spaces whose encoders have more than the text-batching entry point (query towers,
    image batches), so threads sharing one loaded model never run it concurrently.
    """

    _LOCKED = ("encode", "encode_batch", "encode_queries", "encode_items", "encode_images", "encode_texts")

    def __init__(self, inner: Any, lock: threading.Lock):
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in self._LOCKED or not callable(value):
            return value

        def locked(*arguments: Any, **options: Any) -> Any:
            with self._lock:
                return value(*arguments, **options)

        return locked


class ModelCache:
    """The server's ``Models``: encoders by (model reference, backend), each loaded once, plus the
    server's readers; batchable text encoders wrapped in a SharedEncoder (one BatchQueue each),
    the others (DPR, CLIP, ...) in a LockedEncoder.

    Args:
        loader: builds an encoder from (reference, backend); defaults to ``load_encoder``.
        max_batch: most texts one model call takes from the queue.
        max_models: most models kept loaded (``densekit serve --max-models``); the least recently
            used is released first (its batching worker stops; requests holding it finish).

    Example:
        >>> cache = ModelCache(max_models=4)
        >>> cache.get("hashing:64").encode(["a cat"]).shape
        (1, 64)
    """

    def __init__(self, loader: Callable[[str, str], Encoder] | None = None, max_batch: int = 64,
                 max_models: int | None = None):
        from ..loaded_models import Models

        self._loader = loader or _load
        self._max_batch = max_batch
        self.models = Models(max_models)
        self.models.on_release = self._released
        self._guard = threading.Lock()
        self._direct_locks: dict[str, threading.Lock] = {}
        self._listeners: list[Callable[[tuple], None]] = []

    def get(self, reference: str, backend: str | None = None) -> SharedEncoder:
        """The shared encoder for a model; ``backend`` None takes one already loaded for the reference
        (a collection's, say), else the default for new work (``defaults.default_backend``:
        onnx-int8-row for sentence-transformers text models, else torch), as the library and CLI choose it."""
        if backend is None:
            loaded = next((key[2] for key in self.models.loaded() if key[0] == "shared" and key[1] == reference), None)
            if loaded is not None:
                backend = loaded
            else:
                from ..encoders.defaults import default_backend

                backend = default_backend(reference)
        return self.models.get(("shared", reference, backend), lambda: self._shared(reference, backend))

    def _shared(self, reference: str, backend: str) -> SharedEncoder:
        inner = self._loader(reference, backend)
        model_lock = threading.Lock()
        batches = BatchQueue(inner.encode_batch, max(self._max_batch, inner.default_batch_size), model_lock)
        return SharedEncoder(inner, batches, model_lock)

    def get_locked(self, reference: str, backend: str) -> LockedEncoder:
        """A space's encoder that is not a batchable text model (e.g. "dpr", "clip"), loaded once, used under a lock."""
        return self.models.get(
            ("locked", reference, backend),
            lambda: LockedEncoder(self._loader(reference, backend), self.lock_for(f"{reference} ({backend})")),
        )

    def reader(self, reference: str | None = None) -> Any:
        """The server's own extractive reader (use it under ``lock_for(f"reader:{reference}")``)."""
        return self.models.reader(reference)

    def reranker(self, reference: str | None = None) -> Any:
        """The server's own cross-encoder reranker."""
        return self.models.reranker(reference)

    def lock_for(self, name: str) -> threading.Lock:
        """A lock for a model used outside the batching queue (a reader, a CLIP space), one per name."""
        with self._guard:
            return self._direct_locks.setdefault(name, threading.Lock())

    def on_release(self, listener: Callable[[tuple], None]) -> None:
        """Call ``listener(key)`` whenever a model is released (the collection registry drops the
        handles that hold it, so its memory is really freed)."""
        self._listeners.append(listener)

    def release(self, reference: str | None = None, backend: str | None = None) -> int:
        """Release loaded models (all, or one reference / backend); returns how many."""
        return self.models.release(reference, backend=backend)

    def _released(self, key: tuple, model: Any) -> None:
        if isinstance(model, SharedEncoder):
            model.batches.close()
        for listener in list(self._listeners):
            listener(key)

    def loaded(self) -> dict[str, Any]:
        """Loaded batched models with their batching counters (for /metrics)."""
        counters: dict[str, Any] = {}
        for key in self.models.loaded():
            if key[0] != "shared":
                continue
            encoder = self.models.peek(key)
            if encoder is None:
                continue
            reference, backend = key[1], key[2]
            label = reference if backend in ("torch", "hashing") else f"{reference} ({backend})"
            entry = counters.setdefault(label, {"calls": 0, "texts": 0})
            entry["calls"] += encoder.batches.calls
            entry["texts"] += encoder.batches.texts
        return counters

    def close(self) -> None:
        self.models.release()


def _load(reference: str, backend: str) -> Encoder:
    from ..encoders.factory import load_encoder

    return load_encoder(reference, backend=backend)
