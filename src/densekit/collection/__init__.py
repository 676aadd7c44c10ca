"""Persistent collections: content store, vector spaces, sparse index, one id space."""

from .collection import Collection
from .search import Hit
from .store import Item

__all__ = ["Collection", "Hit", "Item"]
