"""search(explain=True): each hit says how its score came about, and the numbers agree with the hits."""

from __future__ import annotations

import pytest

from densekit.collection.items import Item

QUERY = "the bank raised interest rates and the cat sat"


def side_ranking(collection, mode, **options):
    """{id: (score, rank)} of one side alone, deep enough to hold every candidate."""
    return {hit.id: (hit.score, rank) for rank, hit in enumerate(collection.search(QUERY, k=100, mode=mode, **options), start=1)}


@pytest.mark.parametrize("options", [{}, {"fusion": "rrf"}, {"alpha": 0.3}, {"fusion": "probability", "alpha": 0.8}])
def test_hybrid_explanations_match_the_hits_and_each_side(collection, options):
    hits = collection.search(QUERY, k=6, mode="hybrid", explain=True, **options)
    dense, sparse = side_ranking(collection, "dense"), side_ranking(collection, "sparse")
    expected_fusion = options.get("fusion") or ("weighted" if "alpha" in options else "probability")
    assert len(hits) == 6
    for hit in hits:
        explained = hit.explain
        assert explained["fusion"] == expected_fusion
        assert explained["score"] == pytest.approx(hit.score, abs=1e-12)
        shares = [explained[side]["share"] for side in ("dense", "sparse") if explained[side] is not None]
        assert sum(shares) == pytest.approx(hit.score)
        for side, alone in (("dense", dense), ("sparse", sparse)):
            if explained[side] is None:
                assert hit.id not in alone
            else:  # the same score and rank as searching that side alone
                assert (explained[side]["score"], explained[side]["rank"]) == pytest.approx(alone[hit.id])
    assert hits[0].as_dict()["explain"] == hits[0].explain
    # Probability fusion: each share is the side's weight times its softmax probability.
    if expected_fusion == "probability":
        weight = options.get("alpha", 0.5)
        for hit in hits:
            if hit.explain["dense"] is not None:
                assert hit.explain["dense"]["share"] == pytest.approx(weight * hit.explain["dense"]["probability"])


def test_explain_changes_no_result_and_stays_out_of_plain_hits(collection):
    plain = collection.search(QUERY, k=6, mode="hybrid")
    explained = collection.search(QUERY, k=6, mode="hybrid", explain=True)
    assert [(hit.id, hit.score) for hit in plain] == [(hit.id, hit.score) for hit in explained]
    assert plain[0].explain is None and "explain" not in plain[0].as_dict()


@pytest.mark.parametrize("mode", ["dense", "sparse"])
def test_one_side_explains_itself(collection, mode):
    hits = collection.search(QUERY, k=4, mode=mode, explain=True)
    other = "sparse" if mode == "dense" else "dense"
    for rank, hit in enumerate(hits, start=1):
        assert hit.explain["fusion"] is None and hit.explain[other] is None
        assert hit.explain[mode] == {"score": hit.score, "rank": rank, "share": hit.score}


def test_explanations_of_grouped_chunks(collection):
    chunks = ["Interest rates at the bank rose again.", "The cat sat on the bank of the river.", "Nothing here."]
    collection.add_items([Item(f"doc#{n}", text, parent="doc", start=0, end=len(text)) for n, text in enumerate(chunks)])
    collection.commit()
    hits = collection.search(QUERY, k=5, mode="hybrid", group="parent", explain=True)
    dense = side_ranking(collection, "dense")
    assert len({hit.parent or hit.id for hit in hits}) == len(hits)
    for hit in hits:
        assert hit.explain["score"] == pytest.approx(hit.score, abs=1e-12)
        if hit.explain["dense"] is not None:
            assert hit.explain["dense"]["score"] == pytest.approx(dense[hit.id][0])
