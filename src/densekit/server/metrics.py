"""Prometheus text metrics: request counts, a latency histogram per route, items per collection.

Written by hand (the text format is small) so the server needs no metrics package. Routes are
labelled by their template (``/collections/{name}/search``), never the raw path, so a client
cannot create unbounded label values.
"""

from __future__ import annotations

import bisect
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

#: Upper bounds in seconds, Prometheus' usual latency buckets.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Thread-safe counters; ``render`` gives the Prometheus exposition text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, list[int]] = {}
        self._latency_sum: dict[str, float] = {}
        self._latency_count: dict[str, int] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            buckets = self._latency.setdefault(route, [0] * len(BUCKETS))
            position = bisect.bisect_left(BUCKETS, seconds)
            if position < len(BUCKETS):
                buckets[position] += 1
            self._latency_sum[route] = self._latency_sum.get(route, 0.0) + seconds
            self._latency_count[route] = self._latency_count.get(route, 0) + 1

    def render(self, collection_items: dict[str, int], models: dict[str, Any],
               writes: dict[str, tuple[int, int]] | None = None) -> str:
        """The exposition text; ``writes``: collection -> (write requests acknowledged, commits)."""
        lines = [
            "# HELP densekit_requests_total HTTP requests answered, by method, route and status.",
            "# TYPE densekit_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), count in sorted(self._requests.items()):
                lines.append(f'densekit_requests_total{{method="{method}",route="{_escape(route)}",status="{status}"}} {count}')
            lines += [
                "# HELP densekit_request_duration_seconds Time to answer a request, by route.",
                "# TYPE densekit_request_duration_seconds histogram",
            ]
            for route, buckets in sorted(self._latency.items()):
                label = _escape(route)
                cumulative = 0
                for bound, count in zip(BUCKETS, buckets):
                    cumulative += count
                    lines.append(f'densekit_request_duration_seconds_bucket{{route="{label}",le="{bound}"}} {cumulative}')
                lines.append(f'densekit_request_duration_seconds_bucket{{route="{label}",le="+Inf"}} {self._latency_count[route]}')
                lines.append(f'densekit_request_duration_seconds_sum{{route="{label}"}} {self._latency_sum[route]:.6f}')
                lines.append(f'densekit_request_duration_seconds_count{{route="{label}"}} {self._latency_count[route]}')
        lines += [
            "# HELP densekit_collection_items Items in each served collection.",
            "# TYPE densekit_collection_items gauge",
        ]
        for name, count in sorted(collection_items.items()):
            lines.append(f'densekit_collection_items{{collection="{_escape(name)}"}} {count}')
        lines += [
            "# HELP densekit_model_batches_total Model calls made by the batching queue, by model.",
            "# TYPE densekit_model_batches_total counter",
        ]
        for model, counters in sorted(models.items()):
            lines.append(f'densekit_model_batches_total{{model="{_escape(model)}"}} {counters["calls"]}')
        lines += [
            "# HELP densekit_model_texts_total Texts encoded by the batching queue, by model.",
            "# TYPE densekit_model_texts_total counter",
        ]
        for model, counters in sorted(models.items()):
            lines.append(f'densekit_model_texts_total{{model="{_escape(model)}"}} {counters["texts"]}')
        lines += [
            "# HELP densekit_write_requests_total Write requests acknowledged (durable), by collection.",
            "# TYPE densekit_write_requests_total counter",
        ]
        for name, (acknowledged, _) in sorted((writes or {}).items()):
            lines.append(f'densekit_write_requests_total{{collection="{_escape(name)}"}} {acknowledged}')
        lines += [
            "# HELP densekit_write_commits_total Commits made for them (group commit: one per group of requests).",
            "# TYPE densekit_write_commits_total counter",
        ]
        for name, (_, commits) in sorted((writes or {}).items()):
            lines.append(f'densekit_write_commits_total{{collection="{_escape(name)}"}} {commits}')
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    """Times every HTTP request (plain ASGI: cheaper than a BaseHTTPMiddleware per request).

    The route label is the matched template, read from the scope after the app ran, or "unmatched".
    """

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], template, status, time.perf_counter() - started)


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
    def read_metrics(request: Request) -> PlainTextResponse:
        state = request.app.state
        items, writes = {}, {}
        for name in state.registry.names():
            try:
                handles = state.registry.handles(name)
                writes[name] = (handles.writes.acknowledged, handles.writes.commits)
                # A pooled read handle: counting loads no model.
                with handles.reader() as collection:
                    items[name] = collection.count()
            except Exception:  # a broken collection must not hide the others' metrics
                items[name] = -1
        text = state.metrics.render(items, state.models.loaded(), writes)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return router
