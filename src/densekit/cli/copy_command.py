"""`densekit copy SRC DST`: copy a collection between stores (folder <-> PostgreSQL), vectors included."""

from __future__ import annotations

from typing import Optional

import typer

from .output import console, print_json, progress_bar


def register(app: typer.Typer) -> None:
    app.command("copy")(copy)


def copy(
    # str, not Path: a Path would fold "postgresql://" into "postgresql:/".
    source: str = typer.Argument(..., help="Source collection: a folder or postgresql://user@host:port/db?collection=NAME."),
    destination: str = typer.Argument(..., help="Destination: a folder or a postgresql:// URL (created if missing)."),
    source_name: Optional[str] = typer.Option(None, "--source-name", help="Collection name in the source database."),
    name: Optional[str] = typer.Option(None, "--name", help="Collection name in the destination database (default: the source's)."),
    batch_size: int = typer.Option(500, "--batch-size", min=1, help="Items per read and per write transaction."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Copy items, metadata and every space's vectors (no re-encoding); re-run to resume an interrupted copy."""
    from ..collection.copy import copy_collection

    with progress_bar("copying", quiet or json_output) as progress:
        report = copy_collection(
            source, destination, source_name=source_name, destination_name=name, batch=batch_size, progress=progress
        )
    if json_output:
        print_json(report.as_dict())
        return
    resumed = f", {report.skipped} copied before (resumed)" if report.resumed else ""
    created = "new " if report.created else ""
    console().print(
        f"copied {report.copied} items{resumed} into {created}collection {report.destination}; "
        f"spaces: {', '.join(report.spaces)}",
        markup=False,
        highlight=False,
    )
