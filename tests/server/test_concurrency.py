"""Shared models under concurrency: loaded once, batched, and never mixing up requests' vectors."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from densekit.encoders.hashing import HashingEncoder
from densekit.server.models_cache import BatchQueue, ModelCache

TEXTS = [f"text number {i} about {topic}" for i in range(40) for topic in ("cats", "banks")][:64]


def test_a_model_loads_once_under_concurrent_requests():
    calls = []

    def loader(reference, backend):
        calls.append(reference)
        time.sleep(0.05)  # widen the window in which a second loader could start
        return HashingEncoder(16)

    cache = ModelCache(loader=loader)
    with ThreadPoolExecutor(8) as pool:
        encoders = list(pool.map(lambda _: cache.get("hashing:16"), range(8)))
    assert calls == ["hashing:16"] and all(encoder is encoders[0] for encoder in encoders)
    cache.close()


def test_threads_get_the_same_vectors_as_serial():
    cache = ModelCache()
    encoder = cache.get("hashing:64")
    serial = [HashingEncoder(64).encode([text]) for text in TEXTS]
    with ThreadPoolExecutor(16) as pool:
        parallel = list(pool.map(lambda text: encoder.encode([text]), TEXTS))
    for expected, got in zip(serial, parallel):
        np.testing.assert_array_equal(got, expected)
    assert encoder.batches.texts == len(TEXTS)
    cache.close()


def test_waiting_requests_share_one_model_call():
    release = threading.Event()
    batches: list[list[str]] = []

    def encode_batch(texts):
        batches.append(list(texts))
        if len(batches) == 1:
            release.wait(10)
        return np.array([[float(len(text)), 1.0] for text in texts], dtype=np.float32)

    queue = BatchQueue(encode_batch, max_batch=64, lock=threading.Lock())
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(queue.encode, ["first"])
        while not batches:
            time.sleep(0.001)
        rest = [pool.submit(queue.encode, ["x" * size] * 2) for size in range(1, 8)]
        while queue._queue.qsize() < 7:
            time.sleep(0.001)
        release.set()
        assert first.result()[0, 0] == 5.0
        for size, future in enumerate(rest, start=1):
            np.testing.assert_array_equal(future.result()[:, 0], [size, size])
    assert len(batches) == 2 and len(batches[1]) == 14
    queue.close()


def test_a_failing_batch_fails_its_requests_and_the_worker_goes_on():
    def encode_batch(texts):
        if "boom" in texts:
            raise ValueError("cannot encode boom")
        return np.ones((len(texts), 2), dtype=np.float32)

    queue = BatchQueue(encode_batch, max_batch=8, lock=threading.Lock())
    with pytest.raises(ValueError, match="cannot encode boom"):
        queue.encode(["boom"])
    assert queue.encode(["fine"]).shape == (1, 2)
    queue.close()


def test_concurrent_http_requests_match_serial(live_server):
    import httpx2 as httpx

    server = live_server()
    queries = [f"{word} in the park" for word in ("cat", "dog", "bank", "rates", "mat", "garden", "kitten", "fire")]
    with httpx.Client(base_url=server.url, timeout=30) as session:
        serial_vectors = [session.post("/v1/embeddings", json={"input": query}).json()["data"][0]["embedding"] for query in queries]
        serial_hits = [session.post("/collections/pets/search", json={"query": query, "k": 3}).json()["hits"] for query in queries]

        def both(index):
            vector = session.post("/v1/embeddings", json={"input": queries[index]}).json()["data"][0]["embedding"]
            hits = session.post("/collections/pets/search", json={"query": queries[index], "k": 3}).json()["hits"]
            return vector, hits

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(both, [i % len(queries) for i in range(64)]))
    for position, (vector, hits) in enumerate(results):
        index = position % len(queries)
        assert vector == serial_vectors[index]
        assert hits == serial_hits[index]


@pytest.mark.slow
def test_minilm_threads_match_serial(minilm_path):
    cache = ModelCache()
    encoder = cache.get(str(minilm_path))
    texts = [f"sentence {i}: " + "the quick brown fox jumps " * (i % 7 + 1) for i in range(24)]
    serial = np.vstack([encoder.inner.encode([text]) for text in texts])
    with ThreadPoolExecutor(12) as pool:
        parallel = np.vstack(list(pool.map(lambda text: encoder.encode([text]), texts)))
    # Batched texts are padded together; the attention mask keeps results equal up to float rounding.
    np.testing.assert_allclose(parallel, serial, atol=2e-5)
    assert encoder.batches.texts == len(texts)
    cache.close()
