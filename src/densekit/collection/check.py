"""Integrity check of a collection in any store (``densekit check``)."""

from __future__ import annotations

from typing import Any

from .registry import store_class


def check_collection(location: Any, *, name: str | None = None) -> list[str]:
    """Problems found in the collection's committed state; an empty list means it is consistent.

    Example:
        >>> check_collection("news")
        []
    """
    return store_class(location).check_at(location, name=name)


def repair_collection(location: Any, *, name: str | None = None) -> list[str]:
    """Rebuild what ``check_collection`` found broken and can be derived again; returns what was done.

    Example:
        >>> repair_collection("news")
        ['sparse index rebuilt from the content store']
    """
    return store_class(location).repair_at(location, name=name)
