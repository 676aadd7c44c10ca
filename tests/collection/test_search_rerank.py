"""search(rerank=...): a reranker rescores the head of the fused list (documents when grouped)."""

from __future__ import annotations

import pytest

from densekit.collection.items import Item
from densekit.collection.search import RERANK_DEPTH


class LengthReranker:
    """Scores a text by its length (longest first) and records what it was asked to read."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def rerank(self, query, texts):
        self.calls.append(list(texts))
        return [float(len(text)) for text in texts]


@pytest.fixture
def many(collection):
    texts = [f"the bank note number {n} " + "interest " * (n % 7) for n in range(40)]
    collection.add(texts, ids=[f"n{n}" for n in range(40)])
    collection.commit()
    return collection


def test_the_reranker_reads_only_the_head_and_orders_it(many):
    reranker = LengthReranker()
    fused = many.search("bank interest", k=RERANK_DEPTH + 10, mode="hybrid")
    hits = many.search("bank interest", k=5, mode="hybrid", rerank=reranker)
    assert len(reranker.calls) == 1 and reranker.calls[0] == [hit.text for hit in fused[:RERANK_DEPTH]]
    assert [hit.score for hit in hits] == sorted((float(len(text)) for text in reranker.calls[0]), reverse=True)[:5]
    deeper = LengthReranker()
    many.search("bank interest", k=5, mode="hybrid", rerank=deeper, rerank_depth=30)
    assert len(deeper.calls[0]) == 30
    # k above the depth: the reranker reads k hits.
    wide = LengthReranker()
    assert len(many.search("bank interest", k=25, mode="sparse", rerank=wide, rerank_depth=3)) == 25
    assert len(wide.calls[0]) == 25


def test_grouped_search_reranks_documents_by_their_best_chunk(many):
    chunks = ["bank interest rates", "bank interest rates rose " + "again " * 30, "bank"]
    many.add_items([Item(f"doc#{n}", text, parent="doc", start=0, end=len(text)) for n, text in enumerate(chunks)])
    many.commit()
    reranker = LengthReranker()
    hits = many.search("bank interest rates", k=4, mode="hybrid", group="parent", rerank=reranker, rerank_depth=10,
                       explain=True)
    read = reranker.calls[0]
    assert len(read) == 10 and sum(text in chunks for text in read) == 1  # one chunk stands for the document
    assert len({hit.parent or hit.id for hit in hits}) == 4
    assert all(hit.explain["rerank"] == hit.score for hit in hits)


def test_bad_rerank_depth(many):
    from densekit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="rerank_depth"):
        many.search("bank", rerank=LengthReranker(), rerank_depth=0)


def test_only_the_head_of_the_fused_list_is_fetched(many, monkeypatch):
    asked: list[int] = []
    original = type(many)._items_by_rowid

    def counting(self, rowids):
        asked.extend(rowids)
        return original(self, rowids)

    monkeypatch.setattr(type(many), "_items_by_rowid", counting)
    hits = many.search("bank interest note", k=3, mode="hybrid")
    assert len(hits) == 3 and len(asked) <= 3  # not the ~46 fused candidates
    asked.clear()
    chunks = [f"bank interest chunk {n}" for n in range(6)]
    many.add_items([Item(f"doc#{n}", text, parent="doc", start=0, end=len(text)) for n, text in enumerate(chunks)])
    many.commit()
    grouped = many.search("bank interest chunk", k=3, mode="hybrid", group="parent")
    assert len({hit.parent or hit.id for hit in grouped}) == 3 and len(asked) < 46
