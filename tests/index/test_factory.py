"""The index factory: kind strings, the auto threshold, conversion, loading, and a missing faiss."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from densekit.errors import InvalidInputError, MissingDependencyError
from densekit.index.exact import ExactIndex
from densekit.index.factory import INDEX_KINDS, convert_index, create_index, load_index, resolve_kind

DIMENSION = 16


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_auto_picks_flat_below_threshold_and_hnsw_at_it(monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "100")
    assert create_index("auto", DIMENSION, count_hint=99).kind == "flat"
    assert create_index("auto", DIMENSION, count_hint=100).kind == "hnsw"
    assert create_index("auto", DIMENSION).kind == "flat"
    monkeypatch.delenv("DENSEKIT_HNSW_THRESHOLD")
    assert resolve_kind("auto", 49_999) == "flat" and resolve_kind("auto", 50_000) == "hnsw"


def test_auto_passes_hnsw_params_through(monkeypatch):
    monkeypatch.setenv("DENSEKIT_HNSW_THRESHOLD", "10")
    index = create_index("auto", DIMENSION, count_hint=10, m=8, ef_search=40)
    assert index.params() == {
        "kind": "hnsw", "m": 8, "ef_construction": index.ef_construction, "ef_search": 40,
        "compact_fraction": 0.25,
    }


def test_unknown_kind_names_it_and_lists_valid_ones():
    with pytest.raises(InvalidInputError, match=r"unknown index kind 'ivf'; valid: exact, flat, hnsw, auto"):
        create_index("ivf", DIMENSION)
    with pytest.raises(InvalidInputError, match="'ivf'"):
        load_index("ivf", "missing.index", DIMENSION)
    assert INDEX_KINDS == ("exact", "flat", "hnsw", "auto")


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("flat", {"m": 8}, r"'flat' takes no parameter 'm'; valid: none"),
        ("hnsw", {"efsearch": 8}, r"'efsearch'; valid: m, ef_construction, ef_search"),
        ("hnsw", {"m": 0}, r"m must be a positive integer, got 0"),
        ("hnsw", {"ef_search": "64"}, r"ef_search must be a positive integer, got '64'"),
    ],
)
def test_bad_params_are_named(kind, params, message):
    with pytest.raises(InvalidInputError, match=message):
        create_index(kind, DIMENSION, **params)


def test_convert_index_keeps_ids_and_vectors():
    vectors = unit_vectors(500)
    ids = np.arange(1000, 1500, dtype=np.int64)
    flat = create_index("flat", DIMENSION)
    flat.add(ids, vectors)
    flat.remove(ids[:50])
    calls = []
    hnsw = convert_index(flat, "hnsw", progress=lambda done, total: calls.append((done, total)), m=8)
    assert hnsw.kind == "hnsw" and hnsw.params()["m"] == 8
    assert calls[0] == (0, 450) and calls[-1] == (450, 450)
    assert sorted(hnsw.ids().tolist()) == ids[50:].tolist()
    np.testing.assert_allclose(hnsw.vectors(ids[50:60]), vectors[50:60], atol=1e-6)
    queries = unit_vectors(20, seed=1)
    expected = flat.search(queries, 5)[1]
    got = hnsw.search(queries, 5)[1]
    assert np.mean([len(set(g) & set(e)) / 5 for g, e in zip(got, expected)]) >= 0.95
    assert len(flat) == 450  # the source is unchanged
    back = convert_index(hnsw, "exact")
    assert isinstance(back, ExactIndex) and len(back) == 450


def test_load_index_checks_kind_and_auto_reads_it(tmp_path):
    index = create_index("hnsw", DIMENSION, m=8)
    index.add(np.arange(30), unit_vectors(30))
    path = tmp_path / "space.index"
    index.save(path)
    assert load_index("auto", path, DIMENSION).kind == "hnsw"
    assert load_index("hnsw", path, DIMENSION, ef_search=300).params()["ef_search"] == 300
    with pytest.raises(InvalidInputError, match="holds a 'hnsw' index, expected 'flat'"):
        load_index("flat", path, DIMENSION)
    with pytest.raises(InvalidInputError, match=r"cannot override \['m'\]"):
        load_index("hnsw", path, DIMENSION, m=4)
    exact = create_index("exact", DIMENSION)
    exact.add(np.arange(3), unit_vectors(3))
    exact.save(tmp_path / "exact.index")
    assert load_index("auto", tmp_path / "exact.index", DIMENSION).kind == "exact"
    with pytest.raises(InvalidInputError, match="expected one of flat, hnsw"):
        load_index("flat", tmp_path / "exact.index", DIMENSION)
    with pytest.raises(InvalidInputError, match="nothing.index"):
        load_index("flat", tmp_path / "nothing.index", DIMENSION)


def test_missing_faiss_is_a_clear_error(monkeypatch):
    # None in sys.modules makes `import faiss` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "faiss", None)
    for kind in ("flat", "hnsw"):
        with pytest.raises(MissingDependencyError, match="pip install faiss-cpu"):
            create_index(kind, DIMENSION)
    exact = create_index("exact", DIMENSION)  # the numpy backend needs no faiss
    exact.add(np.arange(3), unit_vectors(3))
    assert exact.search(unit_vectors(1), 1)[1].shape == (1, 1)


def test_importing_the_factory_does_not_import_faiss():
    code = "import sys, densekit.index.factory, densekit.index.faiss_index; assert 'faiss' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
