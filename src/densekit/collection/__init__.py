"""Persistent collections: content, vector spaces and a sparse index sharing one id space, in any store.

``Collection.create`` / ``Collection.open`` pick the store from the location (``registry``).
"""

from .base import Collection, IdPage
from .items import Item
from .search import Hit

__all__ = ["Collection", "Hit", "IdPage", "Item"]
