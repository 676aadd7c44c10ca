"""`densekit images index | search | similar | caption`: photo folders searched by description and likeness."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from .output import console, print_json, progress_bar
from .store_options import location, open_target, store_option

DEFAULT_MODEL = "openai/clip-vit-base-patch32"  # kept here too so `--help` never imports the encoder

images_app = typer.Typer(
    help="Images and text in one space (CLIP): index photo folders, search by description, find similar, caption.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(images_app, name="images")


@images_app.command("index")
def index(
    collection: str = typer.Argument(..., help="Collection folder (created if missing), or its name with --store."),
    paths: List[Path] = typer.Argument(..., help="Image files and folders (recursive): JPEG, PNG, WebP, GIF, BMP, TIFF."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=f"CLIP model for a new image space (default {DEFAULT_MODEL}); must match an existing one."),
    space: str = typer.Option("images", "--space", help="Name of the image space (added to an existing text collection if missing)."),
    index_kind: str = typer.Option("auto", "--index", help="Vector index: auto, exact, flat or hnsw."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per model call (default 32)."),
    thumbnail_size: int = typer.Option(256, "--thumbnail-size", help="Longest side of stored thumbnails, in pixels."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images with more pixels (default 100,000,000)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Index image files into a collection; unchanged files are skipped, unreadable ones reported."""
    from ..collection import Collection
    from ..encoders.clip import load_clip_encoder
    from ..errors import ModelMismatchError
    from ..images.indexing import index_images
    from ..images.loading import DEFAULT_MAX_PIXELS
    from ..images.thumbnails import prune_thumbnails
    from ..models import canonical_reference

    where_, name_ = location(collection, store)
    if Collection.exists(where_, name=name_):
        target = Collection.open(where_, name=name_)
        try:
            if space not in target.spaces:
                target.add_space(space, load_clip_encoder(model or DEFAULT_MODEL), index=index_kind)
            elif model is not None and canonical_reference(model) != target.spaces[space].encoder_info["model"]:
                raise ModelMismatchError(
                    f"space {space!r} was built with {target.spaces[space].encoder_info['model']!r}; got --model {model!r}"
                )
        except BaseException:
            target.close()
            raise
    else:
        target = Collection.create(where_, encoder=load_clip_encoder(model or DEFAULT_MODEL), space=space, index=index_kind,
                                   name=name_)
    with target:
        with progress_bar("images", quiet or json_output) as progress:
            report = index_images(
                target,
                paths,
                space=space,
                batch_size=batch_size,
                thumbnail_size=thumbnail_size,
                max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
                progress=progress,
            )
        target.commit()
        pruned = prune_thumbnails(target)
        total = target.count(kind="image")
    summary = {**report.as_dict(), "collection": str(collection), "space": space, "images": total, "thumbnails_pruned": pruned}
    if json_output:
        print_json(summary)
        return
    out = console()
    out.print(
        f"[bold]{collection}[/]: {report.added} new, {report.replaced} changed, {report.unchanged} unchanged images; "
        f"{total} images in space {space!r}",
        highlight=False,
    )
    if report.problems:
        out.print(f"[yellow]{len(report.problems)} skipped:[/]")
        for path, reason in report.problems:
            out.print(f"  {path}: {reason}", markup=False, highlight=False)


def _hit_rows(collection_folder: Path | None, hits: list) -> list[dict[str, Any]]:
    from ..images.thumbnails import thumbnail_path

    rows = []
    for hit in hits:
        row = hit.as_dict()
        name = hit.metadata.get("thumbnail")
        if name and collection_folder is not None:
            row["thumbnail_path"] = str(thumbnail_path(collection_folder, name))
        rows.append(row)
    return rows


def _print_hits(rows: list[dict[str, Any]]) -> None:
    out = console()
    if not rows:
        out.print("no hits")
    for rank, row in enumerate(rows, start=1):
        metadata = row["metadata"]
        size = f"{metadata.get('width')}x{metadata.get('height')}" if metadata.get("width") else ""
        out.print(f"[bold]{rank}.[/] [cyan]{row['score']:.3f}[/]  {row['id']}  [dim]{size}[/]", highlight=False)
        if row.get("thumbnail_path"):
            out.print(f"    thumbnail: {row['thumbnail_path']}", markup=False, highlight=False)


@images_app.command("search")
def search(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    query: str = typer.Argument(..., help='What the picture shows, e.g. "a dog hiding behind a tree".'),
    k: int = typer.Option(5, "-k", "--k", help="Number of hits."),
    where: Optional[List[str]] = typer.Option(None, "--where", "-w", help="Metadata filter key=value (key=a,b for any of), e.g. format=PNG."),
    space: Optional[str] = typer.Option(None, "--space", help="Image space (default: the collection's only one)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Find images by a text description (text to image)."""
    from ..collection.where import parse_where_options
    from ..images.indexing import image_space

    target = open_target(collection, store, readonly=True)
    try:
        name = image_space(target, space)
        hits = target.search(query, k=k, where=parse_where_options(where), space=name)
    finally:
        target.close()
    rows = _hit_rows(target.local_folder, hits)
    if json_output:
        print_json({"query": query, "space": name, "hits": rows})
    else:
        _print_hits(rows)


@images_app.command("similar")
def similar(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    image: Path = typer.Argument(..., help="The picture to find look-alikes of (need not be in the collection)."),
    k: int = typer.Option(5, "-k", "--k", help="Number of hits."),
    where: Optional[List[str]] = typer.Option(None, "--where", "-w", help="Metadata filter key=value (key=a,b for any of)."),
    space: Optional[str] = typer.Option(None, "--space", help="Image space (default: the collection's only one)."),
    include_self: bool = typer.Option(False, "--include-self", help="Keep the picture itself when it is in the collection."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Find images that look like a given picture (image to image)."""
    from ..collection.search import check_k
    from ..collection.where import parse_where_options
    from ..images.indexing import image_space

    k = check_k(k)
    target = open_target(collection, store, readonly=True)
    try:
        name = image_space(target, space)
        vector = target.encoder(name).encode_images([image])[0]
        own_id = str(image.expanduser().resolve())
        hits = target.search_vector(vector, k=k + (0 if include_self else 1), space=name, where=parse_where_options(where))
    finally:
        target.close()
    if not include_self:
        hits = [hit for hit in hits if hit.id != own_id][:k]
    rows = _hit_rows(target.local_folder, hits)
    if json_output:
        print_json({"image": str(image), "space": name, "hits": rows})
    else:
        _print_hits(rows)


@images_app.command("caption")
def caption(
    image: Path = typer.Argument(..., help="The picture to caption."),
    captions: Optional[List[str]] = typer.Argument(None, help="Candidate captions (after the image, or after --captions)."),
    captions_marker: bool = typer.Option(False, "--captions", "-c", help="The words that follow are the candidate captions."),
    captions_file: Optional[Path] = typer.Option(None, "--captions-file", help="A file with one candidate caption per line."),
    model: str = typer.Option(DEFAULT_MODEL, "--model", "-m", help="CLIP model."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pick the caption that best describes a picture, with the score of every candidate."""
    from ..errors import InvalidInputError
    from ..images.match import match

    candidates = list(captions or [])
    if captions_file is not None:
        try:
            lines = captions_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise InvalidInputError(f"cannot read --captions-file {str(captions_file)!r}: {error.strerror or error}") from error
        candidates += [line.strip() for line in lines if line.strip()]
    if not candidates:
        raise InvalidInputError('no candidate captions; give them as: caption photo.jpg --captions "a dog" "two dogs"')
    result = match([image], candidates, model=model)
    if json_output:
        print_json({"image": str(image), **result.as_dict()["images"][0], "logit_scale": round(result.logit_scale, 6)})
        return
    from rich.table import Table

    probabilities = result.probabilities()[0]
    order = sorted(range(len(candidates)), key=lambda column: -result.scores[0, column])
    table = Table(title=f"{image}: best caption \"{candidates[order[0]]}\"")
    table.add_column("caption")
    table.add_column("score", justify="right")
    table.add_column("probability", justify="right")
    for rank, column in enumerate(order):
        style = "bold green" if rank == 0 else None
        table.add_row(candidates[column], f"{result.scores[0, column]:.3f}", f"{probabilities[column]:.3f}", style=style)
    console().print(table)
