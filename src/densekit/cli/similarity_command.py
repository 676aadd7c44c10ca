"""`densekit similar`: a cosine matrix of texts, or a ranking against --query."""

from __future__ import annotations

from typing import List, Optional

import typer

from .output import console, print_json
from .store_options import backend_option, prepare_encoder


def register(app: typer.Typer) -> None:
    app.command("similar")(similar)


def similar(
    texts: List[str] = typer.Argument(..., help="Texts to compare."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Rank the texts by similarity to this one."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name or path (default all-mpnet-base-v2)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    backend: Optional[str] = backend_option(),
) -> None:
    """Cosine similarity between texts (a matrix), or the texts ranked against --query."""
    from ..encoders.factory import load_encoder
    from ..pipelines.similarity import most_similar, similarity

    prepare_encoder(model, backend, quiet=json_output)  # a bar while a first use exports the model
    encoder = load_encoder(model, backend=backend)

    if query is not None:
        ranking = most_similar(query, texts, encoder=encoder)
        if json_output:
            print_json({"query": query, "ranking": [r.__dict__ for r in ranking]})
            return
        from rich.table import Table

        table = Table(title=f"most similar to: {query}")
        table.add_column("rank", justify="right")
        table.add_column("cosine", justify="right")
        table.add_column("text")
        for rank, item in enumerate(ranking, start=1):
            table.add_row(str(rank), f"{item.score:.3f}", item.text)
        console().print(table)
        return
    matrix = similarity(texts, encoder=encoder)
    if json_output:
        print_json({"texts": texts, "cosine": matrix.round(6).tolist()})
        return
    from rich.table import Table

    table = Table(title="cosine similarity")
    table.add_column("#", justify="right")
    for column in range(len(texts)):
        table.add_column(str(column + 1), justify="right")
    table.add_column("text")
    for row, text in enumerate(texts):
        table.add_row(str(row + 1), *(f"{value:.3f}" for value in matrix[row]), text)
    console().print(table)
