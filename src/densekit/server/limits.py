"""Request limits checked inside routes: batch size and text length (413), k (422)."""

from __future__ import annotations

from typing import Sequence

from .http_errors import ApiError
from .settings import Limits


def check_batch(texts: Sequence[object], limits: Limits, param: str) -> None:
    """413 when a request carries more than ``max_batch`` items."""
    if len(texts) > limits.max_batch:
        raise ApiError(
            413, f"{param} has {len(texts)} items; at most {limits.max_batch} per request", "request_too_large", param
        )


def check_lengths(texts: Sequence[str], limits: Limits, param: str) -> None:
    """413 naming the first text longer than ``max_text_chars``."""
    for position, text in enumerate(texts):
        if isinstance(text, str) and len(text) > limits.max_text_chars:
            raise ApiError(
                413,
                f"{param}[{position}] is {len(text)} characters; at most {limits.max_text_chars} per text",
                "request_too_large",
                param,
            )


def check_texts_within(texts: Sequence[str], limits: Limits, param: str) -> None:
    check_batch(texts, limits, param)
    check_lengths(texts, limits, param)


def check_k(k: int, limits: Limits) -> int:
    """422 unless 1 <= k <= ``max_k``."""
    if k < 1 or k > limits.max_k:
        raise ApiError(422, f"k is {k}; expected 1 to {limits.max_k}", "invalid_request_error", "k")
    return k
