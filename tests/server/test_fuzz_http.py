"""A seeded fuzz over metadata values, ids and search arguments through HTTP, on both stores.

Every answer must be a JSON answer below 500 that names no server path, and a refused write must
leave every other document as it was. The counts of cases and outcomes are printed (pytest -s).
"""

from __future__ import annotations

import json
import random
from urllib.parse import quote

import pytest

SEED_IDS = ["cat-1", "cat-2", "dog-1", "dog-2", "fin-1", "fin-2"]  # the ``pets`` fixture's documents
CASES = 400
TEXT_VALUES = ['"owls hoot"', '"\\ud800"', '""', "5"]
QUERY_VALUES = ['"cat"', '"\\ud800"', '" "', '"bank rates"', '"cat"']
MODE_VALUES = ['"dense"', '"sparse"', '"hybrid"', '"fuzzy"', '"dense"']


def raw_value(rng: random.Random, depth: int = 0) -> str:
    """A JSON-ish value as text: literals Python's json would accept but JSON forbids are included."""
    scalars = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e308", "-0.0", "5e-324", str(2**70), str(-(2**64)),
               '"\\ud800"', '"\\udfff x"', '"é🙂"', '"' + "x" * rng.randint(0, 30_000) + '"', '"\\u0000"', "null", "true",
               '"; DROP TABLE items; --"', "0", "12"]
    if depth > 2 or rng.random() < 0.6:
        return rng.choice(scalars)
    if rng.random() < 0.5:
        return "[" + ", ".join(raw_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    return "{" + ", ".join(f'{json.dumps(rng.choice(["k", "a.b", "$in", "", "chunk"]))}: {raw_value(rng, depth + 1)}'
                           for _ in range(rng.randint(0, 3))) + "}"


def raw_id(rng: random.Random) -> str:
    return rng.choice(['"new"', '"cat-1"', '""', '"\\ud800"', '"a/b/../c"', '"x#0"', '"%2F"', '" "', '"' + "i" * 5000 + '"',
                       "7", "null", '"a/b.txt"', '"/abs/p.txt#3"', '"?q=1"', '"new"'])


def where_value(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(["null", '{"animal": "cat"}', '{"year": {"$gte": 2004}}', '{"v": {"$in": [1, "x"]}}'])
    key = json.dumps(rng.choice(["year", "animal", "v", "", "a b", "x" * 300, "bad'key"]))
    condition = rng.choice([raw_value(rng), '{"$in": [' + raw_value(rng) + "]}", '{"$gte": ' + raw_value(rng) + "}",
                            '{"$bogus": 1}', "{}", '{"$in": []}'])
    many = ", ".join(f'"k{i}": {i}' for i in range(rng.choice([0, 0, 70, 1200])))
    return "{" + f"{key}: {condition}" + (", " + many if many else "") + "}"


@pytest.fixture(params=["embedded", "postgres"])
def served(request, collections_root, hashing_encoder) -> tuple[dict, str]:
    """(collections to serve as ``pets``, the location no answer may name), on each store."""
    if request.param == "embedded":
        return {"pets": collections_root / "pets"}, str(collections_root)
    from densekit.collection import Collection

    url, name = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_name")
    with Collection.open(collections_root / "pets", readonly=True) as pets:  # the same six documents
        seeds = [pets.get(identifier) for identifier in SEED_IDS]
    with Collection.create(url, encoder=hashing_encoder, name=name) as target:
        target.add([item.text for item in seeds], ids=SEED_IDS, metadata=[item.metadata for item in seeds])
    return {"pets": f"{url}?collection={name}"}, url.partition("@")[2]


@pytest.fixture
def fuzz_client(make_settings, served):
    from fastapi.testclient import TestClient

    from densekit.server import create_app

    settings = make_settings(collections=served[0])
    with TestClient(create_app(settings), base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        yield client


def snapshot(client) -> dict:
    return {identifier: client.get(f"/collections/pets/documents/{identifier}").json() for identifier in SEED_IDS + ["new"]}


def test_fuzz_over_http_never_5xx_and_never_touches_other_documents(fuzz_client, served, capsys):
    rng = random.Random(1818)
    outcomes: dict[str, int] = {}
    before = snapshot(fuzz_client)
    for case in range(CASES):
        kind = rng.choice(["write", "write", "search", "get", "delete"])
        if kind == "write":
            identifier = raw_id(rng)
            text = rng.choice(TEXT_VALUES)
            upsert = rng.choice(["true", "false"])
            body = f'{{"documents": [{{"id": {identifier}, "text": {text}, "metadata": {{"v": {raw_value(rng)}}}}}], "upsert": {upsert}}}'

            response = fuzz_client.post("/collections/pets/documents", content=body.encode(),
                                        headers={"Content-Type": "application/json"})
            written = json.loads(identifier) if response.status_code == 201 else None
        elif kind == "search":
            k = rng.choice(["5", "0", "-3", "10001", "99999999999999999999", "1e300", "2.5", "null", "100", "3", "1"])
            query, mode = rng.choice(QUERY_VALUES), rng.choice(MODE_VALUES)
            alpha = rng.choice(["null", "null", "0.5", "NaN", "2", "-1e999"])
            body = f'{{"query": {query}, "k": {k}, "mode": {mode}, "alpha": {alpha}, "where": {where_value(rng)}}}'
            response = fuzz_client.post("/collections/pets/search", content=body.encode(),
                                        headers={"Content-Type": "application/json"})
            written = None
        else:
            identifier = rng.choice(["new", "cat-1", "a/b.txt", "x#0", "%", "..", "a" * 3000, "é", "/abs/p.txt#3"])
            path = f"/collections/pets/documents/{quote(identifier, safe=rng.choice(['', '/']))}"
            response = fuzz_client.request("GET" if kind == "get" else "DELETE", path)
            written = identifier if kind == "delete" and response.status_code == 200 else None
        status = response.status_code
        outcomes[f"{kind} {status}"] = outcomes.get(f"{kind} {status}", 0) + 1
        assert status < 500, (case, kind, response.text[:500])
        assert response.headers["content-type"].startswith("application/json"), (case, response.text[:200])
        response.json()
        assert served[1] not in response.text and "Traceback" not in response.text
        after = snapshot(fuzz_client)
        for identifier in before:
            if identifier != written and not (written == "new" and identifier == "new"):
                assert after[identifier] == before[identifier], (case, kind, identifier)
        before = after
    with capsys.disabled():
        print(f"\nHTTP fuzz ({served[0]['pets'].__class__.__name__}): {CASES} cases; outcomes: {dict(sorted(outcomes.items()))}")
    assert sum(count for outcome, count in outcomes.items() if outcome.endswith(("200", "201"))) > 20
