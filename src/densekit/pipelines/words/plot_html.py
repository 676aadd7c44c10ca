"""A self-contained HTML page that draws projected words on a canvas: drag to rotate (3-D) or pan (2-D),
wheel to zoom, click a legend entry to hide a group.

No script is fetched from anywhere, so the page works offline and stays a few kilobytes, unlike a
plotly page that must embed its 3 MB library to work without a network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
 body { margin: 0; font: 14px system-ui, sans-serif; background: #fafafa; color: #222; }
 header { padding: 8px 14px; display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }
 h1 { font-size: 16px; margin: 0; }
 .legend span { cursor: pointer; margin-right: 12px; user-select: none; }
 .legend span.off { opacity: .35; }
 .legend i { display: inline-block; width: 11px; height: 11px; border-radius: 6px; margin-right: 5px; }
 canvas { display: block; width: 100vw; height: calc(100vh - 44px); cursor: grab; }
 .hint { color: #777; font-size: 12px; }
</style></head>
<body>
<header><h1>__TITLE__</h1><div class="legend" id="legend"></div><div class="hint" id="hint"></div></header>
<canvas id="plot"></canvas>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const data = JSON.parse(document.getElementById("data").textContent);
const canvas = document.getElementById("plot"), context = canvas.getContext("2d");
const threeD = data.dimensions === 3;
const hidden = new Set();
let yaw = 0.6, pitch = 0.35, zoom = 1, panX = 0, panY = 0, dragging = null;
document.getElementById("hint").textContent = threeD
  ? "drag to rotate, wheel to zoom, click a group to hide it"
  : "drag to pan, wheel to zoom, click a group to hide it";
const legend = document.getElementById("legend");
data.groups.forEach((group, index) => {
  const item = document.createElement("span");
  item.innerHTML = '<i style="background:' + data.colors[index] + '"></i>';
  item.appendChild(document.createTextNode(group));
  item.onclick = () => { hidden.has(index) ? hidden.delete(index) : hidden.add(index);
                         item.classList.toggle("off"); draw(); };
  legend.appendChild(item);
});
if (data.groups.length < 2) legend.style.display = "none";
function project(point) {
  // Rotate about the vertical axis (yaw), then the horizontal one (pitch); orthographic view.
  let [x, y, z] = [point.x, point.y, point.z || 0];
  if (threeD) {
    const x1 = x * Math.cos(yaw) + z * Math.sin(yaw), z1 = -x * Math.sin(yaw) + z * Math.cos(yaw);
    const y1 = y * Math.cos(pitch) - z1 * Math.sin(pitch), z2 = y * Math.sin(pitch) + z1 * Math.cos(pitch);
    [x, y, z] = [x1, y1, z2];
  }
  const scale = Math.min(canvas.width, canvas.height) * 0.42 * zoom;
  return { x: canvas.width / 2 + panX + x * scale, y: canvas.height / 2 + panY - y * scale, depth: z };
}
function draw() {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = canvas.clientWidth * ratio; canvas.height = canvas.clientHeight * ratio;
  context.setTransform(1, 0, 0, 1, 0, 0);
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (threeD) drawAxes(ratio);
  const shown = data.points.filter(point => !hidden.has(point.group))
    .map(point => Object.assign({ point }, project(point)))
    .sort((a, b) => a.depth - b.depth);  // far first, so near labels stay on top
  context.font = (13 * ratio) + "px system-ui, sans-serif";
  for (const item of shown) {
    const fade = threeD ? 0.55 + 0.45 * (item.depth + 1) / 2 : 1;
    context.globalAlpha = Math.max(0.35, Math.min(1, fade));
    context.fillStyle = data.colors[item.point.group];
    context.beginPath(); context.arc(item.x, item.y, 5 * ratio, 0, 2 * Math.PI); context.fill();
  }
  context.globalAlpha = 1;
  placeLabels(shown.slice().reverse(), ratio);  // nearest first: they get the best spots
}
function placeLabels(items, ratio) {
  // Greedy: each label takes the first spot around its point that overlaps no placed label,
  // with a leader line when it had to move away; zoom in to separate a very tight cluster.
  const placed = [], height = 14 * ratio;
  const overlaps = box => placed.some(other => box[0] < other[2] && other[0] < box[2] && box[1] < other[3] && other[1] < box[3]);
  for (const item of items) {
    const width = context.measureText(item.point.word).width;
    let chosen = null;
    for (const radius of [6, 14, 24, 36, 50]) {
      for (const [dx, dy] of [[1, 0], [1, -1], [1, 1], [0, -1], [0, 1], [-1, -1], [-1, 1], [-1, 0]]) {
        const left = item.x + dx * radius * ratio - (dx < 0 ? width : dx === 0 ? width / 2 : 0);
        const top = item.y + dy * radius * ratio - (dy < 0 ? height : dy === 0 ? height / 2 : 0);
        const box = [left, top, left + width, top + height];
        if (!overlaps(box)) { chosen = { box, radius }; break; }
      }
      if (chosen) break;
    }
    if (!chosen) {
      const box = [item.x + 6 * ratio, item.y - height / 2, item.x + 6 * ratio + width, item.y + height / 2];
      chosen = { box, radius: 6 };
    }
    placed.push(chosen.box);
    const [left, top, right, bottom] = chosen.box;
    if (chosen.radius > 14) {
      context.strokeStyle = "#999"; context.lineWidth = ratio;
      context.beginPath(); context.moveTo(item.x, item.y);
      context.lineTo(Math.max(left, Math.min(item.x, right)), Math.max(top, Math.min(item.y, bottom))); context.stroke();
    }
    context.textBaseline = "middle";
    context.lineWidth = 3 * ratio; context.strokeStyle = "rgba(250,250,250,0.9)";
    context.strokeText(item.point.word, left, (top + bottom) / 2);
    context.fillStyle = "#222"; context.fillText(item.point.word, left, (top + bottom) / 2);
  }
}
function drawAxes(ratio) {
  const origin = project({ x: 0, y: 0, z: 0 });
  [["x", { x: 1, y: 0, z: 0 }], ["y", { x: 0, y: 1, z: 0 }], ["z", { x: 0, y: 0, z: 1 }]].forEach(([name, end]) => {
    const tip = project(end);
    context.strokeStyle = "#ccc"; context.lineWidth = ratio;
    context.beginPath(); context.moveTo(origin.x, origin.y); context.lineTo(tip.x, tip.y); context.stroke();
    context.fillStyle = "#aaa"; context.font = (11 * ratio) + "px sans-serif"; context.fillText(name, tip.x, tip.y);
  });
}
canvas.addEventListener("mousedown", event => { dragging = [event.clientX, event.clientY]; canvas.style.cursor = "grabbing"; });
window.addEventListener("mouseup", () => { dragging = null; canvas.style.cursor = "grab"; });
window.addEventListener("mousemove", event => {
  if (!dragging) return;
  const dx = event.clientX - dragging[0], dy = event.clientY - dragging[1];
  dragging = [event.clientX, event.clientY];
  if (threeD) { yaw += dx * 0.01; pitch = Math.max(-1.5, Math.min(1.5, pitch + dy * 0.01)); }
  else { const ratio = window.devicePixelRatio || 1; panX += dx * ratio; panY += dy * ratio; }
  draw();
});
canvas.addEventListener("wheel", event => { event.preventDefault(); zoom *= Math.exp(-event.deltaY * 0.001); draw(); },
                        { passive: false });
window.addEventListener("resize", draw);
draw();
</script></body></html>
"""


def write_html(
    path: str | Path,
    words: Sequence[str],
    groups: Sequence[int],
    group_names: Sequence[str],
    coordinates,
    colors: Sequence[str],
    title: str,
) -> Path:
    """Write the interactive page. ``coordinates`` is (n, 2 or 3), scaled into [-1, 1] here."""
    import numpy as np

    points = np.asarray(coordinates, dtype=np.float64)
    points = points - points.mean(axis=0)
    extent = np.abs(points).max() or 1.0
    points = points / extent
    axes = ("x", "y", "z")
    data = {
        "dimensions": points.shape[1],
        "groups": list(group_names),
        "colors": list(colors),
        "points": [
            {"word": word, "group": int(group), **{axes[i]: round(float(row[i]), 5) for i in range(points.shape[1])}}
            for word, group, row in zip(words, groups, points)
        ],
    }
    # "</" inside the JSON would end the script element early.
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    page = _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", payload)
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
