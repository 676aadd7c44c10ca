"""``densekit compare A B``: sparse (word overlap) and dense (embedding) similarity side by side."""

from __future__ import annotations

from typing import Optional

import typer

from .store_options import backend_option, prepare_encoder


def compare(
    text_a: str = typer.Argument(..., help="First text."),
    text_b: str = typer.Argument(..., help="Second text."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Encoder model name or path (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    backend: Optional[str] = backend_option(),
) -> None:
    """Compare two texts by shared words (bag-of-words cosine) and by sentence embeddings (cosine)."""
    from ..encoders.factory import load_encoder
    from ..pipelines.compare import compare_texts
    from .output import console, print_json

    prepare_encoder(model, backend, quiet=json_output)  # a bar while a first use exports the model
    result = compare_texts(text_a, text_b, load_encoder(model, backend=backend))
    if json_output:
        print_json(result.as_dict())
        return
    from rich.table import Table

    table = Table(title=f"sparse vs dense ({result.model})")
    table.add_column("measure")
    table.add_column("similarity", justify="right")
    table.add_row("bag of words (all words)", f"{result.bag_of_words:.3f}")
    table.add_row("bag of words (no stop words)", f"{result.content_words:.3f}")
    table.add_row("dense cosine", f"{result.dense:.3f}")
    output = console()
    output.print(table)
    output.print(f"shared words: {', '.join(result.shared_words) or '(none)'}")
    output.print(f"shared words without stop words: {', '.join(result.shared_content_words) or '(none)'}")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
