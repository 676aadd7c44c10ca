"""Embeddings written out and read back in every format, with ids, model and backend kept."""

from __future__ import annotations

import json

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.embed import FORMATS, embed, read_embeddings, read_inputs, write_embeddings


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "cat.txt").write_text("The cat sat on the mat.\n")
    (tmp_path / "notes" / "skip.bin").write_bytes(b"\x00\x01")
    (tmp_path / "rows.jsonl").write_text('{"id": "r1", "text": "Rates rose."}\n{"text": "No id here."}\nnot json\n')
    return tmp_path


def test_inputs_mix_texts_files_folders_and_stdin(files):
    inputs = read_inputs(["a dog", str(files / "notes"), str(files / "rows.jsonl"), "-"], ["first line\n", "\n", "third\n"])
    # Files get the ids `densekit index` gives them: the path under the folder argument, or id / file:line.
    assert inputs.ids == ["text:1", "notes/cat.txt", "r1", "rows.jsonl:2", "stdin:1", "stdin:3"]
    assert inputs.texts[1] == "The cat sat on the mat.\n" and inputs.texts[-1] == "third"
    assert [where for where, _ in inputs.problems] == [f"{files / 'rows.jsonl'}:3"]  # .bin is not a text file


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_keeps_ids_vectors_model_and_backend(suffix, tmp_path, hashing_encoder):
    inputs = read_inputs(["a cat sat", "a dog ran", "rates rose again"])
    made = embed(inputs, hashing_encoder)
    written = write_embeddings(made, tmp_path / f"vectors{suffix}")
    assert written["count"] == 3 and written["dimension"] == 64 and written["format"] == suffix[1:]
    back = read_embeddings(tmp_path / f"vectors{suffix}")
    assert back.ids == ["text:1", "text:2", "text:3"]
    assert back.model == "hashing:64" and back.backend == hashing_encoder.backend
    np.testing.assert_allclose(back.vectors, hashing_encoder.encode(inputs.texts), atol=1e-6)
    assert back.vectors.dtype == np.float32


def test_npy_sidecar_and_jsonl_lines(tmp_path, hashing_encoder):
    made = embed(read_inputs(["one", "two"]), hashing_encoder, normalize=False)
    write_embeddings(made, tmp_path / "v.npy")
    sidecar = json.loads((tmp_path / "v.json").read_text())
    assert sidecar["ids"] == ["text:1", "text:2"] and sidecar["normalized"] is False
    write_embeddings(made, tmp_path / "v.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [set(line) for line in lines] == [{"id", "vector", "model", "backend"}] * 2
    assert len(lines[0]["vector"]) == 64


def test_parquet_schema(tmp_path, hashing_encoder):
    parquet = pytest.importorskip("pyarrow.parquet")
    write_embeddings(embed(read_inputs(["one"]), hashing_encoder), tmp_path / "v.parquet")
    table = parquet.read_table(tmp_path / "v.parquet")
    import pyarrow

    vector_type = table.schema.field("vector").type
    assert table.column_names == ["id", "vector"] and pyarrow.types.is_fixed_size_list(vector_type)
    assert vector_type.list_size == 64 and vector_type.value_type == pyarrow.float32()
    assert json.loads(table.schema.metadata[b"densekit"])["model"] == "hashing:64"


def test_bad_inputs_are_named(tmp_path, hashing_encoder):
    with pytest.raises(InvalidInputError, match="no such file 'missing.txt'"):
        read_inputs(["missing.txt"])
    with pytest.raises(InvalidInputError, match="text 2 is empty"):
        read_inputs(["ok", "  "])
    with pytest.raises(InvalidInputError, match="duplicate ids"):
        rows = tmp_path / "rows.jsonl"
        rows.write_text('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}\n')
        read_inputs([str(rows)])
    with pytest.raises(InvalidInputError, match="valid: .npy, .npz, .jsonl, .parquet"):
        write_embeddings(embed(read_inputs(["a"]), hashing_encoder), tmp_path / "v.csv")
    empty = tmp_path / "empty.txt"
    empty.write_text("  ")
    with pytest.raises(InvalidInputError, match="nothing to embed.*empty file"):
        embed(read_inputs([str(empty)]), hashing_encoder)
