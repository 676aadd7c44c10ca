"""The embedded store: a collection in one folder (SQLite content, FAISS vector indexes, BM25)."""

from .collection import EmbeddedCollection

__all__ = ["EmbeddedCollection"]
