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
    """List the known models: where each is found (or not), dimension, max sequence length, size."""
    from ..models import known_models
    from .output import console, print_json

    infos = known_models()
    if json_output:
        print_json([info.as_dict() for info in infos])
        return
    from rich.table import Table

    table = Table(title="densekit models")
    for column, justify in (("reference", "left"), ("source", "left"), ("found at", "left"),
                            ("dimension", "right"), ("max seq length", "right"), ("size on disk", "right")):
        table.add_column(column, justify=justify, overflow="fold")
    for info in infos:
        table.add_row(
            info.reference,
            info.source or "not found",
            str(info.found_at) if info.found_at else "-",
            str(info.dimension or "-"),
            str(info.max_seq_length or "-"),
            _size(info.size_bytes) + (" (packed)" if info.source == "package" and info.found_at.is_file() else ""),
        )
    console().print(table)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
