"""``densekit eval ...``: quality benchmarks on real data (for now ``eval sts``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

eval_app = typer.Typer(help="Measure quality on evaluation data.", no_args_is_help=True)


@eval_app.command("sts")
def sts(
    file: Path = typer.Argument(
        ..., help="STS-B style file: tab-separated, score in field 5, sentences in fields 6-7."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Encoder model name or path (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", min=2, help="Use only the first N pairs (a quick check)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed line instead of skipping it."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Spearman correlation x100 between cosine similarity and the gold scores (the STS-B figure)."""
    from ..encoders.factory import load_encoder
    from ..eval.datasets import load_sts
    from ..eval.sts import evaluate_sts
    from .output import console, print_json, progress_bar

    loaded = load_sts(file, strict=strict)
    pairs = loaded.items[:limit] if limit else loaded.items
    encoder = load_encoder(model)
    with progress_bar("encoding sentences", quiet=quiet) as progress:
        result = evaluate_sts(encoder, pairs, progress=progress)
    for problem in loaded.problems:
        typer.echo(f"warning: skipped {problem}", err=True)
    if json_output:
        print_json({**result.as_dict(), "file": str(file), "skipped_lines": len(loaded.problems)})
        return
    console().print(
        f"{result.model}: Spearman {result.spearman:.2f}, Pearson {result.pearson:.2f} "
        f"(x100, cosine vs gold, {result.pairs} pairs from {file})"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
