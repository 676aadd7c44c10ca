"""`densekit compact`: return the space of deleted items to the file system."""

from __future__ import annotations

from typing import Optional

import typer

from .output import console, print_json
from .store_options import open_target, store_option


def register(app: typer.Typer) -> None:
    app.command("compact")(compact)


def compact(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Write fresh index checkpoints, drop deleted items for good and shrink the files (also frees
    space after a disk filled up: delete, then compact)."""
    with open_target(collection, store, readonly=False) as target:
        sizes = target.compact()
        count = target.count()
    summary = {"collection": str(collection), "items": count, **sizes}
    if json_output:
        print_json(summary)
    else:
        console().print(f"{collection}: compacted, {count} items; {_size(sizes['size_before'])} -> {_size(sizes['size_after'])}",
                        highlight=False)


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)
