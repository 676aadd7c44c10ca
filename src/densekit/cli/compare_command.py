"""``densekit compare A B [C ...]``: sparse (word overlap) and dense (embedding) similarity side by side."""

from __future__ import annotations

from typing import List, Optional

import typer

from .store_options import backend_option, prepare_encoder


def compare(
    texts: List[str] = typer.Argument(..., help="Two or more texts; every pair is compared."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Encoder model name or path (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    backend: Optional[str] = backend_option(),
) -> None:
    """Compare texts by shared words (bag-of-words cosine) and by sentence embeddings (cosine)."""
    from ..encoders.factory import load_encoder
    from ..pipelines.compare import compare_many
    from .output import console, print_json

    prepare_encoder(model, backend, quiet=json_output)  # a bar while a first use exports the model
    result = compare_many(texts, load_encoder(model, backend=backend))
    if json_output:
        print_json(result.as_dict())
        return
    output = console()
    if len(result.pairs) == 1:
        print_pair(output, result.pairs[0])
    else:
        print_pairs(output, result)


def print_pair(output, pair) -> None:
    """Two texts: one row per measure, then the shared words."""
    from rich.table import Table

    table = Table(title=f"sparse vs dense ({pair.model})")
    table.add_column("measure")
    table.add_column("similarity", justify="right")
    table.add_row("bag of words (all words)", f"{pair.bag_of_words:.3f}")
    table.add_row("bag of words (no stop words)", f"{pair.content_words:.3f}")
    table.add_row("dense cosine", f"{pair.dense:.3f}")
    output.print(table)
    output.print(f"shared words: {', '.join(pair.shared_words) or '(none)'}", highlight=False)
    output.print(
        f"shared words without stop words: {', '.join(pair.shared_content_words) or '(none)'}", highlight=False
    )


def print_pairs(output, result) -> None:
    """N texts: one row per pair with both sparse measures, the dense cosine and the shared words."""
    from rich.table import Table

    table = Table(title=f"sparse vs dense, every pair ({result.model})")
    table.add_column("text A")
    table.add_column("text B")
    table.add_column("bag of words", justify="right")
    table.add_column("no stop words", justify="right")
    table.add_column("dense", justify="right")
    table.add_column("shared words")
    for pair in result.pairs:
        table.add_row(
            pair.text_a,
            pair.text_b,
            f"{pair.bag_of_words:.3f}",
            f"{pair.content_words:.3f}",
            f"{pair.dense:.3f}",
            ", ".join(pair.shared_words) or "-",
        )
    output.print(table)


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
