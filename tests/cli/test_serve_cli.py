"""`densekit serve`: argument handling, the loopback rule, and one real server process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection
from densekit.errors import InvalidInputError

pytest.importorskip("fastapi", reason="densekit serve needs fastapi and uvicorn")


@pytest.fixture
def pets(tmp_path, hashing_encoder) -> Path:
    folder = tmp_path / "pets"
    with Collection.create(folder, encoder=hashing_encoder) as target:
        target.add(["The cat sat on the mat.", "Interest rates rose."], ids=["cat", "rates"])
    return folder


def test_refuses_a_public_address_without_a_key(pets, monkeypatch):
    monkeypatch.delenv("DENSEKIT_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(pets), "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to bind '0.0.0.0' without an API key" in str(result.exception)


def test_starts_uvicorn_with_the_collections(pets, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: seen.update(app=application, **options))
    monkeypatch.setenv("DENSEKIT_API_KEY", "k")
    result = CliRunner().invoke(app, ["serve", f"animals={pets}", "--host", "0.0.0.0", "--port", "9999", "--max-k", "7"])
    assert result.exit_code == 0, result.output
    settings = seen["app"].state.settings
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9999)
    assert settings.collections == {"animals": pets} and settings.api_key == "k"
    assert settings.default_model == "hashing:64" and settings.limits.max_k == 7


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["../evil=."], "invalid collection name '../evil'"),
        (["{missing}"], "the folder does not exist"),
        (["a={pets}", "a={pets}"], "two collections named 'a'"),
        (["--root", "{missing}"], "is not a folder"),
    ],
)
def test_bad_arguments(pets, tmp_path, arguments, message):
    filled = [value.format(pets=pets, missing=tmp_path / "missing") for value in arguments]
    result = CliRunner().invoke(app, ["serve", *filled])
    assert result.exit_code != 0
    assert message in str(result.exception)


def test_parse_collections_names_after_the_folder(pets):
    from densekit.cli.serve_command import parse_collections

    assert parse_collections([str(pets)]) == {"pets": pets}
    with pytest.raises(InvalidInputError):
        parse_collections(["bad name=" + str(pets)])


def test_real_server_process(pets, free_tcp_port):
    port = free_tcp_port
    import httpx2 as httpx

    densekit = Path(sys.executable).with_name("densekit")
    environment = {**os.environ, "DENSEKIT_API_KEY": "process-key"}
    process = subprocess.Popen(
        [str(densekit), "serve", str(pets), "--port", str(port), "--log-level", "warning"],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert httpx.get(f"{url}/collections").status_code == 401
        headers = {"Authorization": "Bearer process-key"}
        hits = httpx.post(f"{url}/collections/pets/search", json={"query": "cat on a mat", "k": 1}, headers=headers).json()["hits"]
        assert hits[0]["id"] == "cat"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
