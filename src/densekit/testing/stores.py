"""Every store in the registry, as the shared store tests (tests/collection/) open it. A new store adds one entry here
(how to give it a fresh location, and its write semantics) and must pass the shared suites:
tests/collection/test_both_stores.py, test_store_interface.py and test_state_machine.py."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

from densekit.collection import Collection
from densekit.collection.registry import STORES, store_class

_names = itertools.count()


@dataclass
class StoreUnderTest:
    """How the shared tests use one store."""

    kind: str
    #: (pytest request, tmp_path) -> (location, name): a fresh place for one collection.
    place: Callable[[Any, Any], tuple[Any, str | None]]
    #: Every write call is durable and visible to other handles when it returns (no staging).
    durable_writes: bool
    #: A second writable handle may write while another is open.
    concurrent_writers: bool

    def create(self, location, name, **options) -> Collection:
        return Collection.create(location, **options, **({"name": name} if name else {}))

    def open(self, location, name, **options) -> Collection:
        return Collection.open(location, **options, **({"name": name} if name else {}))


def _embedded_place(request, tmp_path):
    return tmp_path / f"collection-{next(_names)}", None


def _postgres_place(request, tmp_path):
    return request.getfixturevalue("postgres_url"), f"shared_{next(_names)}"


STORES_UNDER_TEST = {
    "embedded": StoreUnderTest("embedded", _embedded_place, durable_writes=False, concurrent_writers=False),
    "postgres": StoreUnderTest("postgres", _postgres_place, durable_writes=True, concurrent_writers=True),
}


def registered_store_kinds() -> set[str]:
    """The store kinds the registry knows (one per store class, whatever its schemes)."""
    locations = {scheme: (f"{scheme}://x" if scheme else "folder") for scheme in STORES}
    return {store_class(location).store_kind for location in locations.values()}
