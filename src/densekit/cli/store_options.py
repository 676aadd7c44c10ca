"""The --store / --read-replica options every collection command shares, and opening by them."""

from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional

import typer

STORE_HELP = "postgresql:// URL of a PostgreSQL + pgvector store; COLLECTION is then the collection's name there."
REPLICA_HELP = "PostgreSQL read replica URL that serves searches (repeatable)."


def store_option() -> Optional[str]:
    return typer.Option(None, "--store", help=STORE_HELP)


def replica_option() -> Optional[List[str]]:
    return typer.Option(None, "--read-replica", help=REPLICA_HELP)


def location(collection: str, store: str | None) -> tuple[str, str | None]:
    """(where, name): the folder itself, or the store URL with the collection's name in it."""
    return (store, collection) if store else (collection, None)


def open_target(collection: str, store: str | None, *, readonly: bool, model: str | None = None,
                read_replicas: list[str] | None = None, backend: str | None = None,
                allow_backend_mismatch: bool = False):
    """Open a collection by its CLI arguments; ``backend`` must be the text space's own unless
    ``allow_backend_mismatch`` (then the space is encoded with ``backend``, with a warning)."""
    from ..collection import Collection

    where, name = location(collection, store)
    target = Collection.open(where, readonly=readonly, model=model, name=name, read_replicas=read_replicas or None,
                             allow_backend_mismatch=allow_backend_mismatch)
    if backend is not None and "text" in target.spaces:
        try:
            target.use_backend(backend)
        except BaseException:
            target.close()
            raise
    return target


def exists(collection: str, store: str | None) -> bool:
    from ..collection import Collection

    where, name = location(collection, store)
    return Collection.exists(where, name=name)


BACKEND_HELP = (
    "Encoder backend (its vectors differ from other backends', so a space keeps one): {names}. "
    "Default: DENSEKIT_BACKEND, else the fastest at equal quality for the model (encoders/defaults.py); "
    "an existing collection uses the backend it was built with."
)
MISMATCH_HELP = (
    "Allow --backend to differ from the one the collection was built with (same model and dimension), "
    "e.g. torch fp32 queries on an onnx-int8 collection; scores shift slightly. A warning is logged."
)


def backend_option(default: str | None = None):
    from ..encoders.registry import backend_help

    return typer.Option(default, "--backend", "-b", help=BACKEND_HELP.format(names=backend_help(text_model=True)))


def allow_backend_mismatch_option() -> bool:
    return typer.Option(False, "--allow-backend-mismatch", help=MISMATCH_HELP)


@contextlib.contextmanager
def lazy_progress(description: str, quiet: bool = False) -> Iterator:
    """A progress callback whose bar appears only when something reports (a cached model draws none)."""
    from .output import progress_bar

    with contextlib.ExitStack() as stack:
        opened: list = []

        def update(done: int, total: int | None) -> None:
            if not opened:
                opened.append(stack.enter_context(progress_bar(description, quiet)))
            if opened[0] is not None:
                opened[0](done, total)

        yield update


def prepare_encoder(model: str | None, backend: str | None, quiet: bool = False) -> None:
    """Build the ONNX export a command is about to load (first use only), with a progress bar.

    ``backend`` None is resolved as ``load_encoder`` resolves it. Other backends, and a model whose
    export fails here, are left to ``load_encoder`` (which reports the error, or for a default
    backend falls back to torch).
    """
    from ..encoders.factory import prepare_backend

    try:
        with lazy_progress("exporting the model to ONNX (first use only)", quiet) as progress:
            prepare_backend(model, backend, progress)
    except Exception:  # noqa: BLE001 - load_encoder reports it (or falls back), with its own context
        return
