"""Training: contrastive dual-encoder (DPR-style) retrievers and extractive QA readers.

Heavy libraries (torch, transformers, sentence-transformers) load inside the functions.
"""

from __future__ import annotations

from .quoref_split import load_quoref, split_quoref, write_split

__all__ = ["load_quoref", "split_quoref", "write_split", "train_retriever", "train_reader"]


def __getattr__(name: str):
    if name == "train_retriever":
        from .retriever import train_retriever

        return train_retriever
    if name == "train_reader":
        from .reader import train_reader

        return train_reader
    raise AttributeError(f"module 'densekit.train' has no attribute {name!r}")
