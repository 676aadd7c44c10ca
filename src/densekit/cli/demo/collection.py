"""Section 6: a vector database: BBC News articles in a collection, searched three ways and filtered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .show import DemoSettings, Show
from .words import bbc_folder

QUERIES = [
    ("dense", "mobile phone makers compete on new handsets", None),
    ("sparse", "IAAF drugs", None),
    ("hybrid", "government plans to cut taxes", None),
    ("dense", "a film wins an award", {"category": "entertainment"}),
]


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from ...collection import Collection
    from ...encoders.factory import load_encoder
    from ...ingest import ingest
    from ..output import progress_bar

    folder = settings.collection
    # A demo collection from an earlier run keeps its backend; a new one gets the default.
    backend = _existing_backend(folder)
    encoder = settings.encoder(settings.model) if backend is None else load_encoder(settings.model, backend=backend)
    source = _write_bbc_slice(folder.with_name(folder.name + "-source.jsonl"), settings.per_category)
    target = Collection.open(folder, encoder=encoder) if Collection.exists(folder) else Collection.create(folder, encoder=encoder)
    with target:
        with progress_bar("encoding chunks") as progress:
            report = ingest(target, [source], progress=progress)
        target.commit()
        total = target.count()
    show.line(f"densekit index {folder} ...: {report.added} new, {report.unchanged} unchanged articles, "
              f"{report.chunks} chunks encoded; {total} items ({encoder.model_name}, {encoder.backend})")
    reader = Collection.open(folder, readonly=True, encoder=encoder)
    tops = {}
    try:
        for mode, query, where in QUERIES:
            label = f"{mode}: {query!r}" + (f" where {where}" if where else "")
            show.heading(label)
            # One hit per article (its best chunk), however many chunks an article was cut into.
            hits = reader.search(query, k=3, mode=mode, where=where, group="parent")
            for hit in hits:
                title = (hit.metadata.get("title") or "")[:70]
                show.line(f"  {hit.score:7.3f}  [{hit.metadata.get('category')}] {title}")
            tops[label] = hits[0].metadata.get("category") if hits else None
    finally:
        reader.close()
    show.what("a collection keeps texts, vectors and a word index together: meaning (dense), exact words "
              "(sparse) or both (hybrid), with metadata filters, from one folder on disk.")
    show.line(f"next: densekit index bbc-news {bbc_folder()} --model {settings.model}  then  "
              'densekit search bbc-news "your query" --mode hybrid')
    return {"items": total, "top_categories": tops}


def _existing_backend(collection: Path) -> str | None:
    """The text space's backend of a demo collection built before, or None (the default) if there is none."""
    from ...collection import Collection
    from ...errors import DensekitError

    try:
        with Collection.open(collection, readonly=True) as existing:
            return existing.space("text").encoder_info.get("backend")
    except (DensekitError, OSError):
        return None


def _write_bbc_slice(path: Path, per_category: int) -> Path:
    """The first articles of each category as JSONL with category and title metadata."""
    rows = []
    for folder in sorted(bbc_folder().iterdir()):
        for file in sorted(folder.glob("*.txt"))[:per_category]:
            data = file.read_bytes()
            try:
                text = data.decode("utf-8").strip()
            except UnicodeDecodeError:  # a few articles are Latin-1
                text = data.decode("latin-1").strip()
            title = text.splitlines()[0].strip() if text else file.stem
            rows.append({"id": f"bbc/{folder.name}/{file.stem}", "text": text, "category": folder.name, "title": title})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
