"""GET /healthz and GET /metrics (Prometheus text)."""

from __future__ import annotations

import re


def test_healthz(client):
    assert client.get("/healthz").json()["status"] == "ok"


def _value(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    assert match, pattern
    return float(match.group(1))


def test_metrics_counts_requests_latency_and_items(client):
    for _ in range(3):
        client.post("/collections/pets/search", json={"query": "cat"})
    client.post("/collections/pets/search", json={"query": "cat", "k": 0})
    client.post("/collections/pets/documents", json={"documents": [{"text": "a new one"}]})
    client.get("/nowhere")
    text = client.get("/metrics").text
    route = re.escape('route="/collections/{name}/search"')
    assert _value(text, rf'densekit_requests_total\{{method="POST",{route},status="200"\}}') == 3
    assert _value(text, rf'densekit_requests_total\{{method="POST",{route},status="422"\}}') == 1
    assert _value(text, r'densekit_requests_total\{method="GET",route="unmatched",status="404"\}') == 1
    assert _value(text, rf"densekit_request_duration_seconds_count\{{{route}\}}") == 4
    assert _value(text, rf'densekit_request_duration_seconds_bucket\{{{route},le="\+Inf"\}}') == 4
    assert _value(text, r'densekit_collection_items\{collection="pets"\}') == 7
    assert _value(text, r'densekit_model_texts_total\{model="hashing:64"\}') >= 4
    assert "# TYPE densekit_request_duration_seconds histogram" in text
    # Raw paths never become labels: no collection name inside a route label.
    assert 'route="/collections/pets' not in text


def test_histogram_buckets_are_cumulative(client):
    client.get("/collections")
    text = client.get("/metrics").text
    counts = [float(value) for value in re.findall(r'_bucket\{route="/collections",le="[^"]+"\} (\S+)', text)]
    assert counts == sorted(counts) and counts[-1] == 1


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/embeddings", "/collections", "/collections/{name}/search", "/collections/{name}/documents",
                 "/collections/{name}/documents/{id}", "/similarity", "/healthz", "/metrics"):
        assert path in spec["paths"], path
    assert "swagger" in client.get("/docs").text.lower()
