"""Greedy label placement for word plots: put each word's label where it overlaps no other label or point.

Words of one kind (the days of the week) land almost on top of each other, so labels at a fixed
offset pile up into an unreadable blot. Each label here tries positions on rings of growing radius
around its point and takes the first free one (or the least crowded); far-placed labels get a thin
leader line back to their point.
"""

from __future__ import annotations

import math

import numpy as np

# Rings (pixels) and directions tried, nearest and rightwards first: reading order favours
# labels to the right of their point.
_RADII = (3, 8, 15, 24, 35, 48, 64, 82, 104, 130)
_ANGLES = (0, 45, -45, 90, -90, 135, -135, 180)
_MARKER_RADIUS = 5.0
LEADER_RADIUS = 15


def _overlap(box, boxes: np.ndarray) -> float:
    if len(boxes) == 0:
        return 0.0
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    return float((width * height).sum())


def place_labels(points: np.ndarray, sizes: np.ndarray, bounds: tuple[float, float, float, float]):
    """Choose where each label goes.

    Args:
        points: (n, 2) point positions in pixels.
        sizes: (n, 2) label width and height in pixels.
        bounds: (x0, y0, x1, y1) pixel box labels should stay inside.

    Returns:
        (offsets, radii): (n, 2) offset of each label's lower-left corner from its point, and the
        ring radius used (for deciding on a leader line).
    """
    count = len(points)
    markers = np.column_stack([points - _MARKER_RADIUS, points + _MARKER_RADIUS])
    placed: list[tuple[float, float, float, float]] = []
    offsets = np.zeros((count, 2))
    radii = np.zeros(count)
    # Crowded points first: they have the fewest free spots, isolated ones can go anywhere.
    distances = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=2)
    crowding = (distances < 40).sum(axis=1)
    for index in np.argsort(-crowding, kind="stable"):
        x, y = points[index]
        width, height = sizes[index]
        others = np.delete(markers, index, axis=0)
        best = None
        found = False
        for radius in _RADII:
            for angle in _ANGLES:
                dx, dy = math.cos(math.radians(angle)), math.sin(math.radians(angle))
                left = x + dx * (radius + _MARKER_RADIUS) - (0 if dx > 0.3 else width if dx < -0.3 else width / 2)
                bottom = y + dy * (radius + _MARKER_RADIUS) - (0 if dy > 0.3 else height if dy < -0.3 else height / 2)
                box = (left, bottom, left + width, bottom + height)
                outside = (
                    max(0.0, bounds[0] - box[0]) + max(0.0, box[2] - bounds[2])
                    + max(0.0, bounds[1] - box[1]) + max(0.0, box[3] - bounds[3])
                )
                cost = _overlap(box, np.asarray(placed)) + _overlap(box, others) + outside * height * 4
                # A far spot must be clearly better than a near one to win.
                score = cost + radius * 0.5
                if best is None or score < best[0]:
                    best = (score, box, radius)
                if cost == 0:
                    found = True
                    break
            if found:
                break
        _, box, radius = best
        placed.append(box)
        offsets[index] = (box[0] - x, box[1] - y)
        radii[index] = radius
    return offsets, radii
