"""The collection commands with --store: the same index / search / info / delete on PostgreSQL."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection


def run(*arguments):
    return CliRunner().invoke(app, [str(argument) for argument in arguments])


def test_commands_on_the_postgres_store(tmp_path, pg_url, pg_name, pg_replica):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rows.jsonl").write_text(
        json.dumps({"id": "bank", "text": "The central bank kept interest rates unchanged.", "topic": "finance"}) + "\n"
        + json.dumps({"id": "cat", "text": "The cat sat on the warm mat.", "topic": "pets"}) + "\n"
    )
    result = run("index", pg_name, docs, "--store", pg_url, "--model", "hashing:64", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 2
    assert json.loads(run("index", pg_name, docs, "--store", pg_url, "--json").stdout)["unchanged_documents"] == 2

    result = run("search", pg_name, "interest rates", "--store", pg_url, "--mode", "hybrid", "--where", "topic=finance", "--json")
    assert result.exit_code == 0, result.output
    assert [hit["parent"] for hit in json.loads(result.stdout)["hits"]] == ["bank"]
    assert json.loads(run("info", pg_name, "--store", pg_url, "--json").stdout)["count"] == 2
    assert json.loads(run("delete", pg_name, "cat", "--store", pg_url, "--json").stdout)["removed"] == 1
    with Collection.open(pg_url, name=pg_name, readonly=True) as reader:  # Collection.open dispatches on the URL
        assert reader.count() == 1 and reader.get("bank#0") is not None


def test_read_replica_option(pg_server, pg_replica, pg_url, pg_name, hashing_encoder):
    with Collection.create(pg_url, name=pg_name, encoder=hashing_encoder) as target:
        target.add(["replicated text about owls"], ids=["owl"])
    pg_replica.wait_replayed(pg_server)
    result = run("search", pg_name, "owls", "--store", pg_url, "--read-replica", pg_replica.url("densekit"), "--json")
    assert result.exit_code == 0, result.output
    assert [hit["id"] for hit in json.loads(result.stdout)["hits"]] == ["owl"]
    result = run("search", "folder-collection", "owls", "--read-replica", pg_replica.url("densekit"))
    assert result.exit_code != 0 and "read replicas are for PostgreSQL" in str(result.exception)
