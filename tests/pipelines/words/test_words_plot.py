"""Plots: valid PNG images in 2-D and 3-D, an offline HTML page, labels that do not collide."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from densekit.errors import InvalidInputError
from densekit.pipelines.words import plot_words
from densekit.pipelines.words.labels import place_labels
from densekit.pipelines.words.plot import project

GROUPS = {
    "days": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "months": ["january", "february", "march", "april", "june"],
}


def _page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    match = re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


def test_2d_pca_plot_writes_a_png_and_an_html_page(trained, tmp_path):
    result = plot_words(trained.vectors, GROUPS, tmp_path / "space.png")
    with Image.open(result["png"]) as image:
        image.verify()
    with Image.open(result["png"]) as image:
        assert image.format == "PNG" and image.size[0] >= 800
        # Not a blank canvas: several distinct colours were drawn.
        assert len(image.convert("RGB").getcolors(1 << 20)) > 50
    data = _page_data(tmp_path / "space.html")
    assert data["dimensions"] == 2 and data["groups"] == ["days", "months"]
    assert {point["word"] for point in data["points"]} == set(GROUPS["days"] + GROUPS["months"])
    assert "http" not in (tmp_path / "space.html").read_text().split("<script>")[1]  # nothing fetched
    # Days sit nearer their own group's centre than the months' centre (the clusters are real).
    points = {point["word"]: np.array(point["coordinates"]) for point in result["points"]}
    days = np.mean([points[word] for word in GROUPS["days"]], axis=0)
    months = np.mean([points[word] for word in GROUPS["months"]], axis=0)
    assert sum(np.linalg.norm(points[w] - days) < np.linalg.norm(points[w] - months) for w in GROUPS["days"]) >= 4


def test_3d_tsne_plot_and_custom_html_path(trained, tmp_path):
    result = plot_words(
        trained.vectors, GROUPS["days"] + GROUPS["months"], tmp_path / "t.png", dimensions=3, method="tsne",
        html=tmp_path / "page.html",
    )
    with Image.open(result["png"]) as image:
        image.verify()
    assert result["html"] == str(tmp_path / "page.html")
    assert _page_data(tmp_path / "page.html")["dimensions"] == 3
    assert len(result["points"][0]["coordinates"]) == 3


def test_html_script_is_valid_javascript(trained, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    plot_words(trained.vectors, GROUPS, tmp_path / "p.png", dimensions=3)
    script = (tmp_path / "p.html").read_text().split("<script>")[1].split("</script>")[0]
    (tmp_path / "page.js").write_text(script)
    checked = subprocess.run([node, "--check", str(tmp_path / "page.js")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_no_html_and_bad_arguments(trained, tmp_path):
    result = plot_words(trained.vectors, ["monday", "tuesday", "friday"], tmp_path / "a.png", html=False)
    assert result["html"] is None and not (tmp_path / "a.html").exists()
    with pytest.raises(InvalidInputError, match="valid: pca, tsne"):
        plot_words(trained.vectors, ["monday", "tuesday", "friday"], tmp_path / "b.png", method="umap")
    with pytest.raises(InvalidInputError, match="more than 3 words"):
        plot_words(trained.vectors, ["monday", "tuesday", "friday"], tmp_path / "c.png", dimensions=3)
    with pytest.raises(InvalidInputError, match="'mondai'"):
        plot_words(trained.vectors, ["mondai", "tuesday", "friday"], tmp_path / "d.png")


def test_project_keeps_pca_variance_order():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((30, 10)) * np.array([10, 5, 1, 1, 1, 1, 1, 1, 1, 1])
    coordinates = project(matrix, 2, "pca")
    assert coordinates.shape == (30, 2)
    assert coordinates[:, 0].var() > coordinates[:, 1].var() > 1.0


def test_labels_of_a_tight_cluster_do_not_overlap():
    rng = np.random.default_rng(1)
    points = 300 + rng.normal(0, 6, size=(12, 2))  # twelve points within a few pixels
    sizes = np.tile([60.0, 16.0], (12, 1))
    offsets, _ = place_labels(points, sizes, (0, 0, 800, 600))
    boxes = np.column_stack([points + offsets, points + offsets + sizes])
    for i in range(12):
        for j in range(i + 1, 12):
            width = min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0])
            height = min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1])
            assert width <= 0 or height <= 0, (i, j)
