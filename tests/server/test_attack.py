"""Hostile clients: generated requests from the app's own OpenAPI spec, and hand-written attacks.

The promise checked here is "nothing lost, nothing let in": no request, however odd, gets a 5xx or a
stack trace; without the key nothing is read or written; no collection name reaches a file outside
the served set; concurrent writers lose no acknowledged write and leave a consistent collection.
"""

from __future__ import annotations

import io
import json
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402

from densekit.collection import Collection  # noqa: E402
from densekit.collection.check import check_collection  # noqa: E402
from densekit.server import Limits  # noqa: E402

KEY = "attack-key-0123"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Small limits so the oversized cases stay cheap; the fuzzer still sees every route.
LIMITS = Limits(max_body_bytes=64 * 1024, max_batch=16, max_text_chars=2_000, max_k=50)
# Strings that only a leak of collection contents or of Python internals would put in a body.
LEAK_MARKERS = ("Traceback", 'File "', "cat sat on the warm mat", "/tmp/", "secret-passage")


def assert_clean(response, method: str = "", path: str = "") -> None:
    """No 5xx and nothing in the body that looks like a stack trace."""
    body = response.text if hasattr(response, "text") else response.content.decode("utf-8", "replace")
    assert response.status_code < 500, (method, path, response.status_code, body[:500])
    assert "Traceback" not in body and 'File "' not in body, (method, path, body[:500])


@pytest.fixture
def attack_client(make_client, tiny_reader_path):
    return make_client(api_key=KEY, limits=LIMITS, reader=str(tiny_reader_path))


@pytest.fixture
def attack_schema(attack_client):
    return schemathesis.openapi.from_asgi("/openapi.json", attack_client.app, headers=AUTH)


schema = schemathesis.pytest.from_fixture("attack_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_generated_requests_never_crash_the_server(case):
    """Every route and documented parameter, with the key: 4xx for nonsense, never 5xx or a trace."""
    names = [None]
    if case.path_parameters and "name" in case.path_parameters:
        # Random names only reach the name check; the served one reaches the route's real work too.
        names.append("pets")
    for name in names:
        if name is not None:
            case.path_parameters = {**case.path_parameters, "name": name}
        response = case.call(headers=AUTH)
        assert_clean(response, case.method, case.formatted_path)


# --- the API key -----------------------------------------------------------------------------------


def _every_operation(app) -> list[tuple[str, str]]:
    routes = [("GET", "/"), ("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/static/app.js")]
    for path, operations in app.openapi()["paths"].items():
        concrete = path.replace("{name}", "pets").replace("{id}", "cat-1").replace("{file}", "0" * 64 + ".jpg")
        routes += [(method.upper(), concrete) for method in operations]
    return routes


BAD_CREDENTIALS = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {KEY[:-1]}"},
    {"Authorization": f"Bearer {KEY}x"},
    {"Authorization": f"bearer  {KEY.upper()}"},
    {"Authorization": "Basic !!!not-base64"},
    {"Authorization": "Token " + KEY},
    {"X-API-Key": KEY},
]


@pytest.mark.parametrize("headers", BAD_CREDENTIALS, ids=lambda headers: repr(headers)[:30])
def test_every_route_refuses_a_missing_or_wrong_key(attack_client, headers):
    payloads = {"/v1/embeddings": {"input": "x"}, "/similarity": {"texts": ["a", "b"]},
                "/collections/pets/documents": {"documents": [{"id": "intruder", "text": "let me in"}]}}
    for method, path in _every_operation(attack_client.app):
        response = attack_client.request(method, path, json=payloads.get(path, {"query": "cat"}), headers=headers)
        if path == "/healthz":
            assert response.status_code == 200
            continue
        assert response.status_code == 401, (method, path, headers, response.status_code)
        assert set(response.json()) == {"error"} and response.json()["error"]["type"] == "authentication_error"
        for marker in LEAK_MARKERS + ("cat-1", "pets", "hashing"):
            assert marker not in response.text, (method, path, marker)
    # Nothing the refused requests carried was written.
    with_key = attack_client.get("/collections/pets", headers=AUTH)
    assert with_key.status_code == 200 and with_key.json()["count"] == 6
    assert attack_client.get("/collections/pets/documents/cat-1", headers=AUTH).status_code == 200
    assert attack_client.get("/collections/pets/documents/intruder", headers=AUTH).status_code == 404


def test_healthz_is_open_and_says_nothing_private(attack_client):
    response = attack_client.get("/healthz")
    assert response.status_code == 200
    for marker in LEAK_MARKERS + ("cat-1",):
        assert marker not in response.text


# --- size limits -------------------------------------------------------------------------------------


def test_oversized_bodies_are_413(attack_client):
    big = json.dumps({"input": "word " * 20_000}).encode()
    assert len(big) > LIMITS.max_body_bytes
    for path in ("/v1/embeddings", "/similarity", "/collections/pets/search", "/collections/pets/documents"):
        response = attack_client.post(path, content=big, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 413, (path, response.status_code)
        assert_clean(response, "POST", path)

    def streamed():  # no Content-Length: the limit must hold for a chunked body too
        for _ in range(100):
            yield b"x" * 1024

    response = attack_client.post("/v1/embeddings", content=streamed(), headers=AUTH)
    assert response.status_code == 413
    too_many = {"documents": [{"text": f"t{index}"} for index in range(LIMITS.max_batch + 1)]}
    assert attack_client.post("/collections/pets/documents", json=too_many, headers=AUTH).status_code == 413
    too_long = {"query": "q" * (LIMITS.max_text_chars + 1)}
    assert attack_client.post("/collections/pets/search", json=too_long, headers=AUTH).status_code == 413
    assert attack_client.get("/collections/pets", headers=AUTH).json()["count"] == 6


@pytest.mark.parametrize("k", [LIMITS.max_k + 1, 10**9, 2**70, 0, -1])
def test_huge_or_silly_k_is_422(attack_client, k):
    for path, body in (("/collections/pets/search", {"query": "cat", "k": k}),
                       ("/collections/pets/ask", {"question": "who sat?", "k": k})):
        response = attack_client.post(path, json=body, headers=AUTH)
        assert response.status_code == 422, (path, k, response.text)
        assert_clean(response, "POST", path)
    response = attack_client.post("/collections/pets/images/search", data={"query": "cat", "k": str(k)}, headers=AUTH)
    assert response.status_code == 422
    # /similarity caps k at the number of texts instead of refusing a large one.
    response = attack_client.post("/similarity", json={"texts": ["a", "b"], "query": "a", "k": k}, headers=AUTH)
    assert response.status_code in ((200,) if k >= 1 else (422,)), response.text
    assert_clean(response)


# --- collection names never lead to files outside the served set ---------------------------------------

TRAVERSALS = ["../x", "..%2Fx", "..%2F..%2Fsecret", "a/b", "..", ".", "../../secret", "%2E%2E", "pets%2F..%2Fsecret", "%2e%2e%2fsecret",
              "pets%00", "%00", "secret", "link", "~", "%5C..%5Csecret", "a" * 65, "a" * 5000, "pets\\..\\secret"]


@pytest.fixture
def guarded_server(live_server, tmp_path, hashing_encoder, collections_root):
    """Serves ``root``=collections_root; a real collection lies outside it, and a link inside points to it."""
    secret = tmp_path / "secret"
    with Collection.create(secret, encoder=hashing_encoder) as target:
        target.add(["secret-passage about the vault"], ids=["vault"])
    (collections_root / "link").symlink_to(secret, target_is_directory=True)
    return live_server(collections={}, root=collections_root, api_key=KEY, limits=LIMITS), secret


def raw_request(port: int, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, str]:
    """Send ``path`` exactly as written (HTTP clients would remove "..", the attacker's client need not)."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={**AUTH, "Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.fixture
def opened_files():
    """Paths the process opens or lists while the test runs (an audit hook; hooks cannot be removed)."""
    seen: list[str] = []
    state = {"on": True}

    def hook(event, arguments):
        if state["on"] and event in ("open", "os.listdir", "os.scandir", "os.stat") and arguments:
            seen.append(str(arguments[0]))

    sys.addaudithook(hook)
    yield seen
    state["on"] = False


def test_traversal_names_are_4xx_and_touch_no_outside_file(guarded_server, opened_files):
    server, secret = guarded_server
    status, body = raw_request(server.port, "GET", "/collections")
    assert status == 200 and [entry["name"] for entry in json.loads(body)["collections"]] == ["pets"]
    search = json.dumps({"query": "vault"}).encode()
    planted = json.dumps({"documents": [{"text": "planted"}]}).encode()
    for name in TRAVERSALS:
        for method, path, payload in (
            ("GET", f"/collections/{name}", None),
            ("POST", f"/collections/{name}/search", search),
            ("POST", f"/collections/{name}/documents", planted),
            ("GET", f"/collections/{name}/documents/vault", None),
            ("DELETE", f"/collections/{name}/documents/vault", None),
            ("GET", f"/collections/{name}/thumbnails/{'0' * 64}.jpg", None),
        ):
            status, body = raw_request(server.port, method, path, payload)
            assert 400 <= status < 500, (method, path, status, body[:300])
            assert "Traceback" not in body and "secret-passage" not in body and str(secret) not in body, body[:300]
    touched = [path for path in opened_files if str(secret) in path]
    assert touched == [], touched[:5]
    with Collection.open(secret, readonly=True) as collection:
        assert collection.count() == 1 and collection.get("vault") is not None
    assert check_collection(secret) == []


# --- malformed uploads to image search ---------------------------------------------------------------

MALFORMED_IMAGES = [
    b"",
    b"iVBORw0KGgoAAAANSUhEUgAA",  # a truncated PNG, base64 text instead of bytes
    b"data:image/png;base64,!!!!",
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,  # a PNG signature and nothing valid behind it
    b"GIF89a" + b"\xff" * 32,
    b"\xff\xd8\xff\xe0" + b"A" * 200,  # a JPEG that ends early
    bytes(range(256)) * 8,
]


@pytest.mark.slow  # builds and loads a (tiny) CLIP
@pytest.mark.parametrize("payload", MALFORMED_IMAGES, ids=lambda payload: f"{len(payload)}b")
def test_malformed_images_are_422(make_client, photos_root, payload):
    client = make_client(collections={}, root=photos_root, api_key=KEY, limits=LIMITS)
    response = client.post("/collections/photos/images/search", headers=AUTH,
                           files={"image": ("x.png", io.BytesIO(payload), "image/png")}, data={"k": "2"})
    assert response.status_code == 422, response.text
    assert_clean(response)
    # A base64 string sent as the text field is just an odd query, answered normally.
    response = client.post("/collections/photos/images/search", headers=AUTH,
                           data={"image": "iVBORw0KGgo=", "k": "2"})
    assert 200 <= response.status_code < 500
    assert_clean(response)


def test_an_image_upload_to_a_text_collection_is_422(attack_client):
    response = attack_client.post("/collections/pets/images/search", headers=AUTH,
                                  files={"image": ("x.png", io.BytesIO(b"\x89PNG garbage"), "image/png")})
    assert response.status_code == 422
    assert_clean(response)


# --- concurrent writers ------------------------------------------------------------------------------


def test_concurrent_writes_lose_nothing(live_server, collections_root):
    server = live_server(api_key=KEY, limits=LIMITS)
    threads, writes_each = 12, 4

    def call(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(server.url + path, data=data, method=method,
                                         headers={**AUTH, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def writer(worker: int) -> tuple[set[str], set[str], list[int]]:
        added, deleted, refused = set(), set(), []
        for step in range(writes_each):
            identifier = f"w{worker}-{step}"
            status, body = call("POST", "/collections/pets/documents",
                                {"documents": [{"id": identifier, "text": f"writer {worker} wrote {step}"}]})
            if status == 201:
                assert body["ids"] == [identifier]
                added.add(identifier)
            else:
                assert status in (409, 423, 429, 503) and "error" in body, (status, body)
                refused.append(status)
        # Each writer also deletes one original and one of its own documents.
        for identifier in (f"w{worker}-0", ["cat-1", "cat-2", "dog-1", "dog-2", "fin-1", "fin-2"][worker % 6]):
            status, body = call("DELETE", f"/collections/pets/documents/{identifier}")
            if status == 200:
                deleted.add(identifier)
            else:
                assert status in (404, 409), (status, body)  # 404: another writer deleted it first
                refused.append(status)
        return added, deleted, refused

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(writer, range(threads)))
    added = set().union(*(result[0] for result in results))
    deleted = set().union(*(result[1] for result in results))
    assert len(added) >= threads  # most writes succeed; refusals, if any, are clear
    assert check_collection(collections_root / "pets") == []
    original = {"cat-1", "cat-2", "dog-1", "dog-2", "fin-1", "fin-2"}
    expected = (original | added) - deleted
    with Collection.open(collections_root / "pets", readonly=True) as collection:
        assert collection.count() == len(expected)
        for identifier in sorted(original | added):
            assert (collection.get(identifier) is not None) == (identifier in expected), identifier
    status, body = call("GET", "/collections/pets")
    assert status == 200 and body["count"] == len(expected)
