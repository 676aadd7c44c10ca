"""Embed texts and files and write the vectors out: .npy (+ a JSON sidecar), .npz, .jsonl or .parquet.

Each format records the ids (one per vector, in order), the model and the backend, so the vectors
can be matched to their texts and compared only with vectors of the same model later.

- ``.npy``: the (count, dimension) float32 matrix; ``NAME.json`` beside it holds ids, model, backend.
- ``.npz``: arrays ``vectors`` and ``ids`` plus 0-d string arrays ``model`` and ``backend``.
- ``.jsonl``: one ``{"id", "vector", "model", "backend"}`` object per line.
- ``.parquet``: columns ``id`` (string) and ``vector`` (fixed-size list of float32); the schema's
  ``densekit`` metadata holds model, backend, dimension (needs pyarrow).
"""

from __future__ import annotations

import collections
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import InvalidInputError, MissingDependencyError
from ..progress import ProgressCallback

FORMATS = (".npy", ".npz", ".jsonl", ".parquet")
# An argument ending like this is meant as a file; a missing one is an error, not a text to embed.
_FILE_ENDINGS = (".txt", ".md", ".jsonl")


@dataclass
class Inputs:
    """What to embed: ids and texts in order, and the files (or lines) that were skipped, with why."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(self, identifier: str, text: str) -> None:
        self.ids.append(identifier)
        self.texts.append(text)


@dataclass(frozen=True)
class Embeddings:
    """Vectors with the ids they belong to and the encoder that made them."""

    ids: list[str]
    vectors: np.ndarray  # (count, dimension) float32
    model: str
    backend: str
    normalized: bool = True

    def metadata(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "backend": self.backend,
            "dimension": int(self.vectors.shape[1]),
            "count": len(self.ids),
            "normalized": self.normalized,
        }


def read_inputs(arguments: Sequence[str], stdin_lines: Iterable[str] = ()) -> Inputs:
    """Turn command-line arguments into (id, text) pairs.

    An existing file or folder is read as ``densekit index`` reads it (a .txt/.md file is one text
    with the id ``index`` gives it; a .jsonl file gives one text per line, id from its ``id`` field);
    ``-`` stands for ``stdin_lines`` (one text per non-empty line, ids ``stdin:N``); anything else
    is a text itself, with its position among the arguments as id (``text:N``, from 1).

    Example:
        >>> read_inputs(["a cat", "a dog"]).ids
        ['text:1', 'text:2']
    """
    from ..ingest import IngestReport
    from ..ingest_sources import discover, read_documents

    inputs = Inputs()
    report = IngestReport()
    for position, argument in enumerate(arguments, start=1):
        if argument == "-":
            for number, line in enumerate(stdin_lines, start=1):
                if line.strip():
                    inputs.add(f"stdin:{number}", line.rstrip("\n"))
            continue
        path = Path(argument).expanduser()
        if path.exists():
            for source in discover([path], report):
                for document in read_documents(source, report):
                    inputs.add(document.id, "".join(document.pieces()))
        elif argument.lower().endswith(_FILE_ENDINGS) and len(argument.split()) == 1:
            raise InvalidInputError(f"no such file {argument!r}; to embed it as a text, add a space or other words")
        elif not argument.strip():
            raise InvalidInputError(f"text {position} is empty; expected a non-empty text or a file")
        else:
            inputs.add(f"text:{position}", argument)
    inputs.problems.extend(report.problems)
    duplicates = sorted(identifier for identifier, count in collections.Counter(inputs.ids).items() if count > 1)
    if duplicates:
        raise InvalidInputError(f"duplicate ids {duplicates[:5]}; each text needs its own id")
    return inputs


def embed(
    inputs: Inputs,
    encoder: Encoder,
    batch_size: int | None = None,
    normalize: bool = True,
    progress: ProgressCallback | None = None,
) -> Embeddings:
    """Encode every text of ``inputs`` in one pass (longest first inside the encoder).

    Raises InvalidInputError when there is nothing to embed (naming the skipped files).
    """
    if not inputs.texts:
        skipped = "; ".join(f"{where}: {why}" for where, why in inputs.problems[:3])
        raise InvalidInputError("nothing to embed" + (f" (skipped {skipped})" if skipped else ""))
    vectors = encoder.encode(inputs.texts, batch_size=batch_size, progress=progress, normalize=normalize)
    return Embeddings(list(inputs.ids), vectors, encoder.model_name, encoder.backend, normalize)


def sidecar_path(out: str | os.PathLike) -> Path:
    """Where a .npy file's ids and model go: ``vectors.npy`` -> ``vectors.json``."""
    return Path(out).with_suffix(".json")


def write_embeddings(embeddings: Embeddings, out: str | os.PathLike) -> dict[str, Any]:
    """Write vectors, ids, model and backend to ``out``; the format follows its suffix (FORMATS).

    Returns:
        {"out", "format", "count", "dimension", "model", "backend", "ids_file"} (ids_file: the .npy
        sidecar, else null).

    Example:
        >>> write_embeddings(embed(read_inputs(["a cat"]), load_encoder("hashing")), "v.parquet")["count"]
        1
    """
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in FORMATS:
        raise InvalidInputError(f"cannot write {str(out)!r}: unknown format {out.suffix or '(none)'!r}; valid: {', '.join(FORMATS)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    ids_file = None
    if kind == ".npy":
        np.save(out, embeddings.vectors)
        ids_file = sidecar_path(out)
        ids_file.write_text(json.dumps({**embeddings.metadata(), "ids": embeddings.ids}, ensure_ascii=False), encoding="utf-8")
    elif kind == ".npz":
        np.savez(out, vectors=embeddings.vectors, ids=np.array(embeddings.ids, dtype=str),
                 model=np.array(embeddings.model), backend=np.array(embeddings.backend))
    elif kind == ".jsonl":
        with open(out, "w", encoding="utf-8") as handle:
            for identifier, vector in zip(embeddings.ids, embeddings.vectors):
                row = {"id": identifier, "vector": vector.tolist(), "model": embeddings.model, "backend": embeddings.backend}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        _write_parquet(embeddings, out)
    return {"out": str(out), "format": kind.lstrip("."), **embeddings.metadata(),
            "ids_file": str(ids_file) if ids_file else None}


def _write_parquet(embeddings: Embeddings, out: Path) -> None:
    try:
        import pyarrow as arrow
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise MissingDependencyError("pyarrow", "writing .parquet") from error
    dimension = embeddings.vectors.shape[1]
    flat = arrow.array(embeddings.vectors.reshape(-1), type=arrow.float32())
    table = arrow.table({
        "id": arrow.array(embeddings.ids, type=arrow.string()),
        "vector": arrow.FixedSizeListArray.from_arrays(flat, dimension),
    })
    table = table.replace_schema_metadata({"densekit": json.dumps(embeddings.metadata())})
    parquet.write_table(table, out)


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    """Read back what ``write_embeddings`` wrote (any of FORMATS).

    Example:
        >>> read_embeddings("vectors.npy").ids[:2]
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in FORMATS:
        raise InvalidInputError(f"cannot read {str(path)!r}: unknown format; valid: {', '.join(FORMATS)}")
    if not path.is_file():
        raise InvalidInputError(f"embeddings file {str(path)!r} not found")
    if kind == ".npy":
        meta = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        return Embeddings(meta["ids"], np.load(path), meta["model"], meta["backend"], meta.get("normalized", True))
    if kind == ".npz":
        with np.load(path) as data:
            return Embeddings(data["ids"].tolist(), data["vectors"], str(data["model"]), str(data["backend"]))
    if kind == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        vectors = np.array([row["vector"] for row in rows], dtype=np.float32)
        return Embeddings([row["id"] for row in rows], vectors, rows[0]["model"], rows[0]["backend"])
    import pyarrow.parquet as parquet

    table = parquet.read_table(path)
    meta = json.loads(table.schema.metadata[b"densekit"])
    vectors = np.asarray(table.column("vector").combine_chunks().flatten(), dtype=np.float32)
    return Embeddings(table.column("id").to_pylist(), vectors.reshape(len(table), -1), meta["model"], meta["backend"],
                      meta.get("normalized", True))
