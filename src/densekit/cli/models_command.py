"""``densekit models``: which known models are available on this machine, and where."""

from __future__ import annotations

import typer


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size_bytes < 1000 or unit == "GB":
            return f"{size_bytes:,.0f} {unit}" if unit == "B" else f"{size_bytes:,.1f} {unit}"
        size_bytes /= 1000
    return "-"


def models(json_output: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the known models: where each is found (or not), dimension, max sequence length, size on disk."""
    from ..models import known_models
    from .output import console, print_json

    infos = known_models()
    if json_output:
        print_json([info.as_dict() for info in infos])
        return
    from rich.table import Table

    table = Table(title="densekit models")
    # Short columns first and on one line; the path goes last and folds on narrow terminals.
    table.add_column("reference", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for column in ("dim", "max len", "size"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("found at", overflow="fold")
    for info in infos:
        packed = " packed" if info.source == "package" and info.found_at and info.found_at.is_file() else ""
        table.add_row(
            info.reference,
            info.source or "not found",
            str(info.dimension or "-"),
            str(info.max_seq_length or "-"),
            _size(info.size_bytes) + packed,
            str(info.found_at) if info.found_at else "-",
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
