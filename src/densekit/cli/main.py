"""Entry point: builds the typer app from the command modules; errors become one line and exit code 2 (cli/errors.py).

Command modules import heavy libraries (torch, faiss) inside their functions only, so
``densekit --help`` stays instant.
"""

from __future__ import annotations

import importlib
import sys

import typer

# Each module has register(app). Add a module here to add its commands.
COMMAND_MODULES = [
    "densekit.cli.models_command",
    "densekit.cli.similarity_command",
    "densekit.cli.collection_commands",
    "densekit.cli.demo_command",
    "densekit.cli.compare_command",
    "densekit.cli.eval_command",
    "densekit.cli.words_command",
    "densekit.cli.images_command",
    "densekit.cli.serve_command",
    "densekit.cli.qa_commands",
    "densekit.cli.bench_command",
    "densekit.cli.copy_command",
    "densekit.cli.embed_command",
    "densekit.cli.compact_command",
]

app = typer.Typer(
    name="densekit",
    help="Offline-first dense embeddings: similarity, collections, search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"densekit {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", help="On errors say more: for a missing model, every place searched."),
) -> None:
    """Offline-first dense embeddings: similarity, collections, search."""
    from . import errors

    errors.VERBOSE = verbose


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main() -> None:
    from . import errors

    errors.VERBOSE = False  # set by the --verbose option; main() may run more than once in a process
    try:
        app()  # standalone: usage errors print typer's message and exit 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - translated when it is the world's doing, else re-raised
        message = errors.describe(error, verbose=errors.VERBOSE)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
