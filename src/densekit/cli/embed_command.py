"""``densekit embed TEXTS|FILES --out vectors.npy|.npz|.jsonl|.parquet``: write embeddings out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .output import console, print_json, progress_bar
from .store_options import backend_option, prepare_encoder


def register(app: typer.Typer) -> None:
    app.command("embed")(embed)


def embed(
    inputs: List[str] = typer.Argument(
        ..., help="Texts, files or folders (.txt/.md: one text per file; .jsonl: one per line), or - for stdin lines."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .npy (+ .json ids sidecar), .npz, .jsonl or .parquet."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or path (default all-mpnet-base-v2)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Texts per model call."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize", help="L2-normalise the vectors (cosine = dot product)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    backend: Optional[str] = backend_option(),
) -> None:
    """Embed texts or files and write the vectors with their ids, model and backend."""
    from ..encoders.factory import load_encoder
    from ..errors import InvalidInputError
    from ..pipelines.embed import FORMATS, embed as embed_inputs, read_inputs, write_embeddings

    if out.suffix.lower() not in FORMATS:  # before loading a model
        raise InvalidInputError(f"--out {str(out)!r}: unknown format {out.suffix or '(none)'!r}; valid: {', '.join(FORMATS)}")
    if out.suffix.lower() == ".parquet":
        from ..optional import require

        require("pyarrow", extra="words", feature="writing .parquet")
    found = read_inputs(inputs, sys.stdin if "-" in inputs else ())
    for where, why in found.problems:
        typer.echo(f"warning: skipped {where}: {why}", err=True)
    prepare_encoder(model, backend, quiet or json_output)  # a bar while a first use exports the model
    encoder = load_encoder(model, backend=backend)
    with progress_bar("embedding", quiet or json_output) as progress:
        embeddings = embed_inputs(found, encoder, batch_size=batch_size, normalize=normalize, progress=progress)
    written = write_embeddings(embeddings, out)
    if json_output:
        print_json(written)
        return
    sidecar = f" (ids in {written['ids_file']})" if written["ids_file"] else ""
    noun = "vector" if written["count"] == 1 else "vectors"
    console().print(f"wrote {written['count']} {noun} of {written['dimension']}-d to {written['out']}{sidecar}: "
                    f"{written['model']}, backend {written['backend']}", highlight=False, soft_wrap=True)
