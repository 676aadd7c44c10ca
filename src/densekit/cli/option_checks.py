"""Options checked before a command touches anything: a bad number must be refused before a new
collection is created, a model is loaded or an index is built (a refused `densekit index
--max-tokens 0` used to leave an empty new collection behind). Each check names the option as the
user typed it; the library checks the same values again where they are used."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import InvalidInputError


def count(value: int | None, option: str) -> None:
    """A count such as -k: 1 to the configured bound (DENSEKIT_MAX_K, default 10,000); None passes."""
    from ..limits import check_count

    if value is not None:
        check_count(value, option)


def at_least(value: int | float | None, minimum: int | float, option: str) -> None:
    """``value`` >= ``minimum``; None passes."""
    if value is not None and value < minimum:
        raise InvalidInputError(f"{option} is {value}; expected {minimum} or more")


def fraction(value: float | None, option: str) -> None:
    """A weight in [0, 1]; None passes."""
    if value is not None and not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{option} is {value}; expected a number from 0 to 1")


def chunking(max_tokens: int | None, overlap: int, option: str = "--max-tokens") -> None:
    """Tokens per chunk >= 1 and an overlap from 0 to less than the chunk (the model's own limit is
    checked by ``chunk_limit`` once the encoder is loaded)."""
    at_least(max_tokens, 1, option)
    at_least(overlap, 0, "--overlap")
    if max_tokens is not None and overlap >= max_tokens:
        raise InvalidInputError(f"--overlap {overlap} must be smaller than {option} {max_tokens}")


def chunk_limit(max_tokens: int | None, encoder: Any, option: str = "--max-tokens") -> None:
    """``max_tokens`` within what the encoder reads (``chunking.model_chunk_limit``); None passes."""
    from ..chunking import model_chunk_limit

    limit = model_chunk_limit(encoder)
    if max_tokens is not None and max_tokens > limit:
        raise InvalidInputError(f"{option} is {max_tokens}; expected 1 to {limit}, the model's limit "
                                "(longer chunks would be cut)")


def index_keys(keys: Sequence[str] | None) -> None:
    """Every --index-key a key the stores can index."""
    from ..collection.where import check_index_key

    for key in keys or ():
        check_index_key(key)


def path_metadata(template: str | None) -> None:
    """A --path-metadata template that names at least one key, each once."""
    from ..ingest_sources import path_pattern

    if template:
        path_pattern(template)
