"""Hostile requests, round two: DNS rebinding, cross-site forms, non-JSON JSON, path leaks, odd ids, 500s.

Each test names the finding of issue 18 it covers; every one failed before its fix.
"""

from __future__ import annotations

import json

import pytest

DOCUMENT = {"documents": [{"id": "new", "text": "A brand new document about owls."}]}


def count(client) -> int:
    return client.get("/collections/pets").json()["count"]


# --- 1. DNS rebinding: a keyless server answers loopback names only --------------------------------

@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example:8000"},
        {"Host": "attacker.example"},
        {"Host": "127.0.0.1.attacker.example"},
        {"Host": "localhost.attacker.example:80"},
        {"Host": "0.0.0.0:8000"},
        {"Host": "192.168.1.10"},
        {"Origin": "http://attacker.example:8000"},
        {"Origin": "null"},
        {"Origin": "file://"},
        {"Host": "localhost:8000", "Origin": "https://attacker.example"},
    ],
)
def test_a_rebound_page_can_neither_read_nor_write(client, headers):
    for method, path, body in [
        ("GET", "/collections", None),
        ("GET", "/healthz", None),
        ("POST", "/collections/pets/search", {"query": "cat"}),
        ("POST", "/collections/pets/documents", DOCUMENT),
        ("DELETE", "/collections/pets/documents/cat-1", None),
    ]:
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, headers, response.text)
        assert response.json()["error"]["type"] == "permission_error"
    assert count(client) == 6 and client.get("/collections/pets/documents/cat-1").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "localhost:8000"},
        {"Host": "LOCALHOST."},
        {"Host": "127.0.0.1:8000"},
        {"Host": "127.5.6.7"},
        {"Host": "[::1]:8000"},
        {"Host": "[::1]", "Origin": "http://[::1]:8000"},
        {"Origin": "http://localhost:8000"},
        {"Origin": "https://127.0.0.1"},
    ],
)
def test_loopback_names_are_answered(client, headers):
    assert client.get("/collections", headers=headers).status_code == 200
    assert client.post("/collections/pets/search", json={"query": "cat"}, headers=headers).status_code == 200


def test_allowed_hosts_and_a_key_open_other_names(make_client):
    named = make_client(allowed_hosts=("MyHost.lan.",))
    assert named.get("/collections", headers={"Host": "myhost.lan:8000", "Origin": "http://myhost.lan:8000"}).status_code == 200
    assert named.get("/collections", headers={"Host": "other.lan"}).status_code == 403
    keyed = make_client(api_key="k")
    # With a key the browser of a rebound page has no credentials to send: the key is the defence.
    headers = {"Host": "attacker.example", "Authorization": "Bearer k"}
    assert keyed.get("/collections", headers=headers).status_code == 200
    assert keyed.get("/collections", headers={"Host": "attacker.example"}).status_code == 401


@pytest.mark.parametrize("host", ["http://x", "a b", "x:80", "", "-bad.lan"])
def test_bad_allowed_hosts_are_refused(make_settings, host):
    from densekit.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="is not a host name or IP address"):
        make_settings(allowed_hosts=(host,))


def test_serve_passes_allowed_hosts(collections_root, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from densekit.cli.main import app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **options: seen.update(app=application))
    monkeypatch.delenv("DENSEKIT_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", str(collections_root / "pets"), "--allowed-host", "box.lan",
                                      "--allowed-host", "[::2]"])
    assert result.exit_code == 0, result.output
    assert seen["app"].state.settings.allowed_hosts == ("box.lan", "::2")


# --- 1b. a cross-site HTML form cannot write ------------------------------------------------------

@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded", "documents=x"),
        ("text/plain", json.dumps(DOCUMENT)),
        ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--"),
        (None, json.dumps(DOCUMENT)),
    ],
)
def test_write_routes_take_json_only(client, content_type, body):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/collections/pets/documents", content=body.encode(), headers=headers)
    assert response.status_code == 415, response.text
    assert "send application/json" in response.json()["error"]["message"]
    assert count(client) == 6
    assert client.post("/collections/pets/documents", json=DOCUMENT).status_code == 201


# --- 2 and 8. JSON that is not JSON: NaN, Infinity, 1e999, lone surrogates -------------------------

@pytest.mark.parametrize(
    "path, raw",
    [
        ("/collections/pets/documents", '{"documents": [{"id": "n", "text": "t", "metadata": {"v": NaN}}]}'),
        ("/collections/pets/documents", '{"documents": [{"id": "n", "text": "t", "metadata": {"v": [-Infinity]}}]}'),
        ("/collections/pets/documents", '{"documents": [{"id": "n", "text": "t", "metadata": {"a": {"b": 1e999}}}]}'),
        ("/collections/pets/documents", '{"documents": [{"id": "n", "text": "t\\ud800"}]}'),
        ("/collections/pets/documents", '{"documents": [{"id": "\\udfff", "text": "t"}]}'),
        ("/collections/pets/documents", '{"documents": [{"id": "n", "text": "t", "metadata": {"\\ud800": 1}}]}'),
        ("/collections/pets/search", '{"query": "\\ud800"}'),
        ("/collections/pets/search", '{"query": "cat", "where": {"year": NaN}}'),
        ("/collections/pets/search", '{"query": "cat", "where": {"animal": "\\ud800"}}'),
        ("/v1/embeddings", '{"input": ["\\ud800"]}'),
        ("/similarity", '{"texts": ["a", "\\ud800"]}'),
        ("/collections/pets/ask", '{"question": "\\ud800?"}'),
    ],
)
def test_non_finite_numbers_and_lone_surrogates_are_422(client, path, raw):
    response = client.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "finite" in message or "lone surrogate" in message
    assert count(client) == 6
    # Filtered search keeps working for everyone (one NaN document used to break it).
    assert client.post("/collections/pets/search", json={"query": "cat", "where": {"animal": "cat"}}).status_code == 200


def test_too_deep_json_is_422(client):
    raw = '{"query": "cat", "where": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = client.post("/collections/pets/search", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422


# --- 7 and 8. numeric and filter bounds --------------------------------------------------------------

@pytest.mark.parametrize(
    "body",
    [
        {"query": "cat", "where": {f"k{i}": i for i in range(1000)}},
        {"query": "cat", "where": {f"k{i}": i for i in range(5000)}},
        {"query": "cat", "where": {"year": {"$in": list(range(5000))}}},
        {"query": "cat", "where": {"year": 2**70}},
        {"query": "cat", "where": {"year": {"$gte": {"$lt": 1}}}},
        {"query": "cat", "k": 99999999999999999999},
        {"query": "cat", "k": -(2**70)},
        {"query": "cat", "k": 1e300},
    ],
)
def test_oversized_filters_and_numbers_are_422(client, body):
    response = client.post("/collections/pets/search", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == 422


# --- 3. no server path in any answer ---------------------------------------------------------------

def test_a_409_names_the_collection_not_its_folder(make_client, collections_root):
    from densekit.collection import Collection

    client = make_client(collections={}, root=collections_root)
    with Collection.open(collections_root / "pets"):  # another writer holds the lock
        response = client.post("/collections/pets/documents", json=DOCUMENT)
    assert response.status_code == 409, response.text
    message = response.json()["error"]["message"]
    assert str(collections_root) not in response.text and "/" not in message, message
    assert "'pets'" in message


def test_a_missing_model_names_no_server_folder(make_client, tmp_path, tmp_home, monkeypatch):
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    client = make_client(reader="no-such-org/no-such-reader")
    response = client.post("/collections/pets/ask", json={"question": "Where?"})
    assert response.status_code == 503, response.text
    message = response.json()["error"]["message"]
    assert "no-such-org/no-such-reader" in message and "\nfix: " in message, message
    assert str(tmp_home) not in response.text and ".cache" not in response.text


def test_scrub_paths_replaces_known_folders_and_absolute_paths():
    from densekit.server.http_errors import scrub_paths

    known = {"/srv/data/news": "collection 'news'"}
    assert scrub_paths("could not commit '/srv/data/news': full", known) == "could not commit collection 'news': full"
    assert scrub_paths("cannot open /home/me/x.sqlite now") == "cannot open <server path> now"
    assert scrub_paths("tried '/root/.cache/my models/x'") == "tried <server path>"
    assert scrub_paths("send application/json; k 1/2") == "send application/json; k 1/2"


# --- 8. every error is JSON, an unexpected one too ---------------------------------------------------

def test_an_unexpected_error_is_a_json_500_without_details(make_settings, monkeypatch):
    from fastapi.testclient import TestClient

    from densekit.collection import Collection
    from densekit.server import create_app

    def broken(self, *arguments, **options):
        raise RuntimeError("disk I/O error at /var/lib/secret/content.sqlite")

    monkeypatch.setattr(Collection, "search", broken)
    with TestClient(create_app(make_settings()), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        response = client.post("/collections/pets/search", json={"query": "cat"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == {
        "message": "internal error (RuntimeError); the server log has the details",
        "type": "server_error", "param": None, "code": 500,
    }


# --- 14. ids with "/" over HTTP ---------------------------------------------------------------------

@pytest.mark.parametrize("identifier", ["articles/x.txt", "a/b/c.md#0", "news/2024/q1 report.txt:3", "/abs/path.txt"])
def test_ids_with_slashes_can_be_fetched_and_deleted(client, identifier):
    from urllib.parse import quote

    assert client.post("/collections/pets/documents", json={"documents": [{"id": identifier, "text": "owls hoot"}]}).status_code == 201
    for path in (quote(identifier, safe="/"), quote(identifier, safe="")):
        response = client.get(f"/collections/pets/documents/{path}")
        assert response.status_code == 200, (path, response.text)
        assert response.json()["id"] == identifier
    response = client.delete(f"/collections/pets/documents/{quote(identifier, safe='')}")
    assert response.status_code == 200 and response.json()["deleted"] == 1
    assert client.get(f"/collections/pets/documents/{quote(identifier, safe='')}").status_code == 404
    assert count(client) == 6


@pytest.mark.parametrize("name, value", [("max_body_bytes", 99999999999999999999), ("max_batch", 10**9),
                                         ("max_text_chars", 10**12), ("max_k", 10_001), ("max_k", 0)])
def test_server_limits_are_bounded_both_ways(name, value):
    from densekit.errors import InvalidInputError
    from densekit.server import Limits

    with pytest.raises(InvalidInputError, match=f"limit {name} "):
        Limits(**{name: value})
