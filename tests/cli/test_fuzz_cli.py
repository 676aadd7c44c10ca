"""A seeded fuzz over metadata values, ids and search arguments through the CLI, on both stores.

Each case runs ``densekit`` in-process through its real entry point (``main``, which translates
errors): it must exit 0, 1 (check) or 2 with no traceback, and documents the case did not name must
stay exactly as they were. Counts are printed (pytest -s).
"""

from __future__ import annotations

import random
import sys

import pytest

from densekit.cli import main as entry
from densekit.collection import Collection

SEEDS = {"seed-1": ("The cat sat on the warm mat.", {"animal": "cat", "year": 2001}),
         "seed-2": ("Interest rates rose again.", {"topic": "finance", "year": 2012})}
CASES = 150
VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "1e308", str(2**70), '"\\ud800"', '"é🙂"', "null", "true", "[1, NaN]",
          '{"a": {"b": [Infinity]}}', '"x"', "3", "[" * 40 + "]" * 40, '"' + "w" * 20_000 + '"']
IDS = ['"d"', '"d"', '"a/b.txt"', '"x#0"', '""', "null", '"\\udfff"', "7", '"é"', '"' + "i" * 3000 + '"', '"chunk"']


def run_cli(arguments: list[str], capsys) -> tuple[int, str]:
    capsys.readouterr()
    sys.argv = ["densekit", *arguments]
    try:
        entry.main()
        code = 0
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
    return code, capsys.readouterr().err


@pytest.fixture(params=["embedded", "postgres"])
def store(request, tmp_path) -> tuple[dict, list[str], str]:
    """(Collection.create/open arguments, the CLI's COLLECTION [--store URL] arguments, the store kind)."""
    if request.param == "embedded":
        return {"path": tmp_path / "c"}, [str(tmp_path / "c")], "embedded"
    url, name = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_name")
    return {"path": url, "name": name}, [name, "--store", url], "postgres"


def snapshot(where: dict) -> dict:
    with Collection.open(where["path"], readonly=True, **({"name": where["name"]} if "name" in where else {})) as reader:
        return {identifier: (item.text, item.metadata) if (item := reader.get(identifier)) else None for identifier in SEEDS}


def test_fuzz_through_the_cli_never_tracebacks_or_touches_other_documents(tmp_path, store, hashing_encoder, capsys,
                                                                         monkeypatch):
    monkeypatch.setattr(sys, "argv", sys.argv[:])
    where, target_arguments, kind_of_store = store
    with Collection.create(where["path"], encoder=hashing_encoder, **({"name": where["name"]} if "name" in where else {})) as target:
        target.add([text for text, _ in SEEDS.values()], ids=list(SEEDS), metadata=[meta for _, meta in SEEDS.values()])
    expected = snapshot(where)
    rng = random.Random(1818)
    outcomes: dict[str, int] = {}
    for case in range(CASES):
        kind = rng.choice(["index", "index", "search", "search", "delete"])
        if kind == "index":
            rows = []
            for _ in range(rng.randint(1, 4)):
                identifier = rng.choice(IDS)
                key = rng.choice(['"v"', '"chunk"', '"source"', '"\\ud800"'])
                text = rng.choice(['"owls hoot at night"', '""', '"\\ud800"', '"' + "long words " * 300 + '"'])
                rows.append(f'{{"id": {identifier}, "text": {text}, {key}: {rng.choice(VALUES)}}}')
            path = tmp_path / f"rows-{case}.jsonl"
            path.write_text("\n".join(rows) + "\n")
            arguments = ["index", target_arguments[0], str(path), "-q", "--json", *target_arguments[1:]]
        elif kind == "search":
            arguments = ["search", target_arguments[0], rng.choice(["cat", "rates", "x"]), *target_arguments[1:],
                         "-k", rng.choice(["5", "0", "-1", "10001", "99999999999999999999", "1e3", "abc", "10000"]),
                         "--mode", rng.choice(["dense", "sparse", "hybrid", "fuzzy"])]
            for _ in range(rng.randint(0, 2)):
                arguments += ["--where", rng.choice(["year=2001", "year=NaN", "year=1e999", "animal=cat,dog", "novalue",
                                                     "v=" + "9" * 30, "bad'key=1", "year=" + ",".join(["1"] * 2000)])]
            if rng.random() < 0.3:
                arguments += ["--alpha", rng.choice(["0.5", "nan", "inf", "-1", "x"])]
        else:
            arguments = ["delete", target_arguments[0], rng.choice(["d", "a/b.txt", "x#0", "nothing", "é"]), *target_arguments[1:]]
        code, stderr = run_cli(arguments, capsys)
        outcomes[f"{kind} exit {code}"] = outcomes.get(f"{kind} exit {code}", 0) + 1
        assert code in (0, 2), (case, arguments[:6], stderr[-800:])
        assert "Traceback" not in stderr, (case, stderr[-2000:])
        if code == 2 and stderr.startswith("error: "):
            assert stderr.count("\n") == 1, stderr
        assert snapshot(where) == expected, (case, arguments[:6])
    with capsys.disabled():
        print(f"\nCLI fuzz ({kind_of_store}): {CASES} cases; outcomes: {dict(sorted(outcomes.items()))}")
    assert outcomes.get("index exit 0", 0) > 20 and outcomes.get("search exit 0", 0) > 5
