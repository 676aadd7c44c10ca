"""API key on every route but /healthz, body-size limit, and the loopback-only default."""

from __future__ import annotations

import base64

import pytest

from densekit.errors import InvalidInputError
from densekit.server import Limits, ServerSettings
from densekit.server.security import presented_key
from densekit.server.settings import is_loopback

KEY = "s3cret-key"


def _every_route(app) -> list[tuple[str, str]]:
    """(method, concrete path) for every API route in the spec, placeholders filled in, plus the page."""
    routes = [("GET", "/"), ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/openapi.json"), ("GET", "/static/app.js")]
    for path, operations in app.openapi()["paths"].items():
        concrete = path.replace("{name}", "pets").replace("{id}", "cat-1")
        routes += [(method.upper(), concrete) for method in operations]
    return routes


def test_every_route_but_healthz_needs_the_key(make_client):
    client = make_client(api_key=KEY)
    routes = _every_route(client.app)
    assert len(routes) >= 16
    for method, path in routes:
        response = client.request(method, path, json={})
        if path == "/healthz":
            assert response.status_code == 200
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["type"] == "authentication_error"
    assert client.get("/no/such/route").status_code == 401


def test_bearer_and_basic_credentials(make_client):
    client = make_client(api_key=KEY)
    assert client.get("/collections", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    basic = base64.b64encode(f"anyone:{KEY}".encode()).decode()
    assert client.get("/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
    wrong = client.get("/collections", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "wrong API key"
    assert wrong.headers["www-authenticate"] == "Bearer"
    # The page asks the browser for credentials (Basic) so a person can log in.
    assert client.get("/").headers["www-authenticate"].startswith("Basic")
    assert client.get("/collections", headers={"Authorization": f"Bearer {KEY}x"}).status_code == 401


def test_without_a_key_everything_is_open(client):
    assert client.get("/collections").status_code == 200


@pytest.mark.parametrize(
    "header, key",
    [
        (b"Bearer abc", "abc"),
        (b"bearer   abc ", "abc"),
        (b"Basic " + base64.b64encode(b"user:pa:ss"), "pa:ss"),
        (b"Basic !!notbase64", None),
        (b"Token abc", None),
    ],
)
def test_presented_key(header, key):
    assert presented_key([(b"authorization", header)]) == key


def test_body_limit_with_content_length(make_client):
    client = make_client(limits=Limits(max_body_bytes=1000))
    response = client.post("/v1/embeddings", json={"input": "x" * 2000})
    assert response.status_code == 413
    assert "the limit is 1000 bytes" in response.json()["error"]["message"]
    assert client.post("/v1/embeddings", json={"input": "x" * 900}).status_code == 200


def test_body_limit_without_content_length(make_client):
    client = make_client(limits=Limits(max_body_bytes=1000))

    def chunks():
        yield b'{"input": "'
        for _ in range(30):
            yield b"x" * 100
        yield b'"}'

    response = client.post("/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_invalid_json_is_a_422(client):
    response = client.post("/v1/embeddings", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "error" in response.json()


def test_non_loopback_needs_a_key(tmp_path):
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        assert is_loopback(host)
        ServerSettings(host=host).check_binding()
    for host in ("0.0.0.0", "192.168.1.4", "::", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(InvalidInputError, match="refusing to bind"):
            ServerSettings(host=host).check_binding()
        ServerSettings(host=host, api_key=KEY).check_binding()


def test_settings_refusals():
    with pytest.raises(InvalidInputError, match="invalid collection name"):
        ServerSettings(collections={"../etc": "x"})
    with pytest.raises(InvalidInputError, match="api_key is empty"):
        ServerSettings(api_key=" ")
    with pytest.raises(InvalidInputError, match="max_k"):
        Limits(max_k=0)


def test_from_environment_reads_the_key(monkeypatch):
    monkeypatch.setenv("DENSEKIT_API_KEY", KEY)
    assert ServerSettings.from_environment().api_key == KEY
    monkeypatch.setenv("DENSEKIT_API_KEY", "")
    assert ServerSettings.from_environment().api_key is None
