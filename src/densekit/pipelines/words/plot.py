"""Pictures of a word-vector space: words projected to 2-D or 3-D (PCA or t-SNE), coloured by group.

Writes a PNG (matplotlib, drawn off-screen without pyplot so no GUI backend is ever touched) and a
self-contained HTML page that can be rotated (plot_html.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ...errors import InvalidInputError
from .queries import resolve

METHODS = ("pca", "tsne")
# matplotlib's tab10, so the PNG and the HTML page colour each group the same way.
COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)


def project(matrix: np.ndarray, dimensions: int = 2, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project rows of ``matrix`` to ``dimensions`` (2 or 3) coordinates with PCA or t-SNE.

    Example:
        >>> project(np.random.rand(10, 50), 2).shape
        (10, 2)
    """
    if method not in METHODS:
        raise InvalidInputError(f"unknown projection method {method!r}; valid: {', '.join(METHODS)}")
    if dimensions not in (2, 3):
        raise InvalidInputError(f"dimensions must be 2 or 3, got {dimensions}")
    count = matrix.shape[0]
    if count <= dimensions:
        raise InvalidInputError(f"plotting in {dimensions}-D needs more than {dimensions} words, got {count}")
    if method == "pca":
        centred = matrix - matrix.mean(axis=0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        return centred @ components[:dimensions].T
    from sklearn.manifold import TSNE

    # t-SNE needs perplexity < number of points; a third of the points keeps small plots stable.
    perplexity = float(max(2.0, min(30.0, (count - 1) / 3)))
    return TSNE(
        n_components=dimensions, perplexity=perplexity, init="pca", random_state=seed, metric="cosine"
    ).fit_transform(matrix)


def _as_groups(words: Sequence[str] | Mapping[str, Sequence[str]]) -> list[tuple[str, list[str]]]:
    if isinstance(words, str):
        raise InvalidInputError("expected a list of words or a {group: [words]} mapping, got a single string")
    if isinstance(words, Mapping):
        groups = [(str(name), list(members)) for name, members in words.items()]
    else:
        groups = [("words", list(words))]
    groups = [(name, members) for name, members in groups if members]
    if not groups:
        raise InvalidInputError("no words to plot")
    return groups


def plot_words(
    vectors,
    words: Sequence[str] | Mapping[str, Sequence[str]],
    out: str | os.PathLike,
    dimensions: int = 2,
    method: str = "pca",
    html: str | os.PathLike | bool = True,
    title: str | None = None,
) -> dict[str, Any]:
    """Draw words of a vector space as a PNG (and an interactive HTML page), coloured by group.

    Args:
        vectors: gensim KeyedVectors.
        words: a list of words, or {group name: [words]} to colour groups (e.g. days vs months).
        out: PNG path.
        dimensions: 2 or 3.
        method: "pca" (linear, stable) or "tsne" (keeps local neighbourhoods).
        html: path of the HTML page; True puts it beside the PNG with ``.html``; False skips it.
        title: picture title (default names the method).

    Returns:
        {"png": path, "html": path or None, "points": [{"word", "group", "coordinates"}]}

    Example:
        >>> plot_words(vectors, {"days": ["monday", "tuesday"], "months": ["may", "june"]}, "space.png")
    """
    groups = _as_groups(words)
    labels: list[str] = []
    group_of: list[int] = []
    for index, (_, members) in enumerate(groups):
        for key in resolve(vectors, members):
            if key not in labels:
                labels.append(key)
                group_of.append(index)
    matrix = np.stack([vectors.get_vector(key, norm=True) for key in labels])
    coordinates = project(matrix, dimensions, method)
    names = [name for name, _ in groups]
    colors = [COLORS[index % len(COLORS)] for index in range(len(groups))]
    title = title or f"{len(labels)} words, {method.upper() if method == 'pca' else 't-SNE'} {dimensions}-D"
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _draw_png(out, labels, group_of, names, coordinates, colors, title)
    html_path = None
    if html:
        from .plot_html import write_html

        html_path = out.with_suffix(".html") if html is True else Path(html)
        write_html(html_path, labels, group_of, names, coordinates, colors, title)
    return {
        "png": str(out),
        "html": str(html_path) if html_path else None,
        "points": [
            {"word": word, "group": names[group], "coordinates": [round(float(value), 4) for value in row]}
            for word, group, row in zip(labels, group_of, coordinates)
        ],
    }


def _draw_png(path, labels, group_of, names, coordinates, colors, title) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 8), dpi=120)
    FigureCanvasAgg(figure)
    three_d = coordinates.shape[1] == 3
    if three_d:
        from mpl_toolkits.mplot3d import Axes3D  # noqa: F401  registers the "3d" projection

        axes = figure.add_subplot(projection="3d")
    else:
        axes = figure.add_subplot()
    group_array = np.asarray(group_of)
    style = {"depthshade": False} if three_d else {"edgecolors": "white", "linewidths": 0.6, "zorder": 2}
    for index, name in enumerate(names):
        rows = coordinates[group_array == index]
        if len(rows):
            axes.scatter(*rows.T, s=46, color=colors[index], label=name, **style)
    if len(names) > 1:
        axes.legend(loc="best", fontsize=10, framealpha=0.85)
    axes.set_title(title)
    if not three_d:
        axes.grid(alpha=0.25)
        axes.margins(0.12)
    figure.tight_layout()
    _draw_labels(figure, axes, labels, coordinates)
    figure.savefig(path)


def _draw_labels(figure, axes, labels, coordinates, fontsize: float = 10) -> None:
    """Label each point where the label collides with nothing (labels.py), with a leader line when far."""
    from matplotlib.font_manager import FontProperties

    from .labels import LEADER_RADIUS, place_labels

    figure.canvas.draw()  # fixes limits, layout and the 3-D projection, so pixel positions are final
    renderer = figure.canvas.get_renderer()
    if coordinates.shape[1] == 3:
        from mpl_toolkits.mplot3d import proj3d

        xs, ys, _ = proj3d.proj_transform(*coordinates.T, axes.get_proj())
        anchors = np.column_stack([xs, ys])
    else:
        anchors = coordinates
    pixels = axes.transData.transform(anchors)
    font = FontProperties(size=fontsize)
    pad = 3.0  # the label box's padding, in pixels, on each side
    sizes = np.array(
        [
            [width + 2 * pad, height + descent + 2 * pad]
            for width, height, descent in (
                renderer.get_text_width_height_descent(word, font, ismath=False) for word in labels
            )
        ]
    )
    window = axes.get_window_extent(renderer)
    offsets, radii = place_labels(pixels, sizes, (window.x0, window.y0, window.x1, window.y1))
    box = {"boxstyle": "square,pad=0.2", "facecolor": "white", "alpha": 0.8, "edgecolor": "none"}
    for word, anchor, offset, radius in zip(labels, anchors, offsets, radii):
        leader = {"arrowstyle": "-", "color": "#888888", "lw": 0.6} if radius >= LEADER_RADIUS else None
        axes.annotate(
            word,
            xy=tuple(anchor),
            xytext=(offset[0] + pad, offset[1] + pad),
            textcoords="offset pixels",
            ha="left",
            va="bottom",
            fontproperties=font,
            bbox=box,
            arrowprops=leader,
            zorder=4,
            annotation_clip=False,
        )
