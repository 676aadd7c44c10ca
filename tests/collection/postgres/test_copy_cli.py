"""`densekit copy` through the typer runner and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection
from densekit.collection.postgres import PostgresCollection


def _source(folder, encoder):
    with Collection.create(folder, encoder=encoder) as source:
        source.add(["the cat sat", "the dog barked", "markets fell"], ids=["a", "b", "c"], metadata=[{"n": 1}, {"n": 2}, {"n": 3}])
    return folder


def test_copy_command(tmp_path, pg_url, pg_name, hashing_encoder):
    source = _source(tmp_path / "pets", hashing_encoder)
    result = CliRunner().invoke(app, ["copy", str(source), pg_url, "--name", pg_name, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["copied"] == 3 and report["created"] and report["destination"].endswith(f"collection={pg_name}")
    with PostgresCollection.open(pg_url, name=pg_name, readonly=True) as copied:
        assert copied.get("b").metadata == {"n": 2}
    result = CliRunner().invoke(app, ["copy", str(source), pg_url, "--name", "Bad-Name"])
    assert result.exit_code != 0 and "not allowed" in str(result.exception)


def test_copy_subprocess_back_to_a_folder(tmp_path, pg_url, pg_name, hashing_encoder):
    source = _source(tmp_path / "pets", hashing_encoder)
    CliRunner().invoke(app, ["copy", str(source), f"{pg_url}?collection={pg_name}", "--quiet"])
    densekit = Path(sys.executable).with_name("densekit")
    done = subprocess.run([str(densekit), "copy", f"{pg_url}?collection={pg_name}", str(tmp_path / "back")],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "copied 3 items into new collection" in done.stdout
    with Collection.open(tmp_path / "back", readonly=True) as back:
        assert back.count() == 3 and back.search("cat", k=1)[0].id == "a"
    failed = subprocess.run([str(densekit), "copy", str(tmp_path / "missing"), str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert failed.returncode == 2 and "error: no collection at" in failed.stderr
