"""The Encoder interface: abilities callers ask for instead of probing with hasattr."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from densekit.encoders.hashing import HashingEncoder

TEXTS = ["a cat sat on the mat", "stock markets fell", "a cat sat on the mat again"]


def test_a_symmetric_encoder_encodes_queries_and_items_as_anything_else(hashing_encoder):
    vectors = hashing_encoder.encode(TEXTS)
    np.testing.assert_array_equal(hashing_encoder.encode_queries(TEXTS), vectors)
    np.testing.assert_array_equal(hashing_encoder.encode_items(TEXTS, batch_size=1), vectors)
    assert hashing_encoder.accepts == {"text"} and hashing_encoder.sides == "symmetric"


def test_queries_report_progress_like_encode():
    calls = []
    HashingEncoder(16).encode_queries(TEXTS, batch_size=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (2, 3), (3, 3)]


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a densekit.encoders source file imports, at any depth
    (imports inside functions included: those run later, but still make the layering)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "densekit.encoders".split(".")[: 2 - node.level + 1] if node.level else []
            names.add(".".join(base + ([node.module] if node.module else [])))
    return names


def test_encoders_do_not_import_the_layers_above_them():
    import densekit.encoders

    above = ("densekit.images", "densekit.pipelines", "densekit.collection", "densekit.server", "densekit.cli",
             "densekit.eval")
    folder = Path(densekit.encoders.__file__).parent
    found = {path.name: sorted(name for name in imported_modules(path) if name.startswith(above))
             for path in folder.glob("*.py")}
    assert {name: modules for name, modules in found.items() if modules} == {}
    assert "densekit.image_files" in imported_modules(folder / "clip.py")  # the check does see relative imports
