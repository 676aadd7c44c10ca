"""Every command that takes a collection takes a PostgreSQL one: `check --store`, `serve NAME=URL`
(and NAME=env:VARIABLE, so a password stays out of the process list), `ask --store`, `copy`, and the
HTTP routes on top of a served URL."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parents[2] / "train" / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

PASSAGES = {
    "france": "The capital of France is Paris. It is known for the Eiffel Tower.",
    "dune": "The best-selling sci-fi book is Dune [a novel].",
    "koala": "Koalas eat eucalyptus leaves.",
}


def run(*arguments):
    return CliRunner().invoke(app, [str(argument) for argument in arguments])


@pytest.fixture
def passages(pg_url, pg_name, hashing_encoder):
    with Collection.create(pg_url, name=pg_name, encoder=hashing_encoder) as collection:
        collection.add(list(PASSAGES.values()), ids=list(PASSAGES), metadata=[{"topic": key} for key in PASSAGES])
    return pg_name


def test_check_with_store(passages, pg_url):
    result = run("check", passages, "--store", pg_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    missing = run("check", "no_such_collection", "--store", pg_url)
    assert missing.exit_code != 0 and "no collection 'no_such_collection'" in str(missing.exception)


def test_check_reports_a_damaged_postgres_collection(passages, pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(f'UPDATE "{passages}_items" SET vec_text = NULL WHERE id = %s', ("dune",))
    result = run("check", passages, "--store", pg_url, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["problems"] == ["space 'text': 1 items without vectors, 0 vectors on items of another kind"]


def test_ask_with_store(passages, pg_url, tmp_path, minilm_path):
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    BertForQuestionAnswering(BertConfig(vocab_size=30522, **tiny.SMALL)).save_pretrained(str(tmp_path / "reader"))
    tiny.save_tokenizer(minilm_path, tmp_path / "reader")
    result = run("ask", passages, "What is the capital of France?", "--store", pg_url, "-k", "3",
                 "--reader", tmp_path / "reader", "--json")
    assert result.exit_code == 0, result.output
    answers = json.loads(result.stdout)["answers"]
    assert answers and all(PASSAGES[a["passage_id"]][a["start"]:a["end"]] == a["text"] for a in answers)


def test_serve_takes_urls_and_urls_from_the_environment(passages, pg_url, monkeypatch):
    from densekit.cli.serve_command import parse_collections

    secret_url = pg_url.replace("postgres@", "postgres:hunter2@")  # trust auth ignores the password
    monkeypatch.setenv("NEWS_DB", secret_url)
    served = parse_collections([f"{passages}=env:NEWS_DB", f"direct={pg_url}?collection={passages}"])
    assert served == {passages: f"{secret_url}?collection={passages}", "direct": f"{pg_url}?collection={passages}"}
    with pytest.raises(Exception, match=r"postgres:\*\*\*@") as refused:
        parse_collections(["absent=env:NEWS_DB"])  # no collection called 'absent' there
    assert "hunter2" not in str(refused.value)
    monkeypatch.delenv("NEWS_DB")
    with pytest.raises(Exception, match="'NEWS_DB' is not set"):
        parse_collections(["x=env:NEWS_DB"])


def test_http_routes_on_a_served_url(passages, pg_url):
    from fastapi.testclient import TestClient

    from densekit.server import ServerSettings, create_app

    settings = ServerSettings(collections={"facts": f"{pg_url}?collection={passages}"}, default_model="hashing:64")
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        hits = client.post("/collections/facts/search", json={"query": "capital of France", "k": 1, "mode": "sparse"})
        assert hits.status_code == 200, hits.text
        assert hits.json()["hits"][0]["id"] == "france"
        added = client.post("/collections/facts/documents", json={"documents": [{"id": "owl", "text": "Owls hunt at night."}]})
        assert added.status_code == 201, added.text
        assert client.get("/collections/facts/documents/owl").json()["text"] == "Owls hunt at night."
        assert "densekit_collection_items" in client.get("/metrics").text


def test_copy_between_a_folder_and_a_url(passages, pg_url, tmp_path):
    result = run("copy", f"{pg_url}?collection={passages}", tmp_path / "copy", "--json")
    assert result.exit_code == 0, result.output
    with Collection.open(tmp_path / "copy", readonly=True) as copied:
        assert copied.count() == 3 and copied.get("koala").metadata == {"topic": "koala"}
    assert run("check", tmp_path / "copy").exit_code == 0
