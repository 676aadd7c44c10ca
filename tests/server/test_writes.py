"""Group commit: concurrent write requests share commits, each is answered only once durable, and a
failing request (or commit) fails only what it must."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from densekit.collection import Collection
from densekit.errors import CollectionError, InvalidInputError
from densekit.server import ServerSettings
from densekit.server.writes import GroupWriter

ORIGINAL = {"cat-1", "cat-2", "dog-1", "dog-2", "fin-1", "fin-2"}


def call(url: str, method: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_concurrent_clients_share_commits_and_every_acknowledged_write_survives_a_restart(live_server, collections_root):
    server = live_server()
    app = server.server.config.app
    clients, writes_each = 16, 8

    def client(worker: int) -> tuple[dict[str, str], set[str]]:
        added, deleted = {}, set()
        for step in range(writes_each):
            identifier, text = f"w{worker}-{step}", f"client {worker} wrote note {step} about harbours"
            status, body = call(server.url + "/collections/pets/documents", "POST",
                                {"documents": [{"id": identifier, "text": text, "metadata": {"worker": worker}}]})
            assert status == 201, body
            assert body["ids"] == [identifier] and body["count"] >= len(ORIGINAL) + 1
            added[identifier] = text
        status, body = call(server.url + f"/collections/pets/documents/w{worker}-0", "DELETE")
        assert status == 200 and body["deleted"] == 1, body
        deleted.add(f"w{worker}-0")
        return added, deleted

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    writes = app.state.registry.handles("pets").writes
    requests = clients * (writes_each + 1)
    assert writes.acknowledged == requests
    assert writes.commits < requests and writes.largest_group > 1, (writes.commits, writes.largest_group)
    server.__exit__(None, None, None)  # shut down: the writer closes

    # "Restart": a fresh handle on the folder sees every acknowledged write, and no deleted one.
    added = {id_: text for result in results for id_, text in result[0].items()}
    deleted = set().union(*(result[1] for result in results))
    with Collection.open(collections_root / "pets", readonly=True) as collection:
        assert collection.count() == len(ORIGINAL) + len(added) - len(deleted)
        found = {item.id: item.text for item in collection.get(sorted(set(added) - deleted))}
        assert found == {id_: text for id_, text in added.items() if id_ not in deleted}
        assert collection.get(sorted(deleted)) == []
        assert collection.check() == []


@pytest.fixture
def notes(tmp_path, hashing_encoder):
    folder = tmp_path / "notes"
    with Collection.create(folder, encoder=hashing_encoder) as collection:
        collection.add(["an old note"], ids=["old"])
    return folder


def opener(folder, hashing_encoder, opened: list | None = None):
    def open_writer():
        collection = Collection.open(folder, encoder=hashing_encoder)
        if opened is not None:
            opened.append(collection)
        return collection
    return open_writer


def submit_blocked_group(writes: GroupWriter, changes: list) -> list:
    """Hold the writer thread on a first request until every change in ``changes`` is queued, so
    they form one group; returns each change's (result, count), or its error."""
    started, release = threading.Event(), threading.Event()
    outcomes: list = [None] * (len(changes) + 1)

    def run(position, change):
        try:
            outcomes[position] = writes.submit(change)
        except Exception as error:  # noqa: BLE001 - the test looks at it
            outcomes[position] = error

    blocker = threading.Thread(target=run, args=(0, lambda writer: (started.set(), release.wait(30))))
    blocker.start()
    assert started.wait(30)
    threads = [threading.Thread(target=run, args=(position, change)) for position, change in enumerate(changes, start=1)]
    for thread in threads:
        thread.start()
    while writes._queue.qsize() < len(changes):
        time.sleep(0.005)
    release.set()
    for thread in (blocker, *threads):
        thread.join(30)
    return outcomes[1:]


@pytest.fixture(params=["embedded", "postgres"])
def notes_anywhere(request, tmp_path, hashing_encoder):
    """(location, name) of a collection holding one note, "old", in either store."""
    if request.param == "embedded":
        location, name = tmp_path / "notes", None
    else:
        location, name = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_name")
    with Collection.create(location, encoder=hashing_encoder, name=name) as collection:
        collection.add(["an old note"], ids=["old"])
    return location, name


def test_a_failing_request_fails_alone_and_leaves_nothing_staged(notes_anywhere, hashing_encoder):
    location, name = notes_anywhere
    writes = GroupWriter(lambda: Collection.open(location, encoder=hashing_encoder, name=name), idle_seconds=5,
                         name="notes")

    def half_then_fail(writer):
        writer.add(["staged, then the request failed"], ids=["ghost"])
        writer.add(["a second old note"], ids=["old"])  # already there: InvalidInputError

    outcomes = submit_blocked_group(writes, [
        lambda writer: writer.add(["first new note"], ids=["new-1"]),
        half_then_fail,
        lambda writer: writer.add(["second new note"], ids=["new-2"]),
        lambda writer: writer.delete(["old"]),
    ])
    assert isinstance(outcomes[1], InvalidInputError) and "old" in str(outcomes[1])
    assert outcomes[0][0] == ["new-1"] and outcomes[2][0] == ["new-2"] and outcomes[3][0] == 1
    assert outcomes[0][1] == outcomes[2][1] == 2  # one commit answered them all: new-1, new-2 (old deleted)
    assert writes.commits == 2  # the blocker's, then the group's (applied again without the failed request)
    writes.close()
    with Collection.open(location, readonly=True, name=name) as collection:
        assert sorted(collection.list_ids().ids) == ["new-1", "new-2"]


def test_a_failed_commit_fails_its_group_and_nothing_of_it_is_committed_later(notes, hashing_encoder):
    opened: list = []
    writes = GroupWriter(opener(notes, hashing_encoder, opened), idle_seconds=5, name="notes")
    writes.submit(lambda writer: writer.add(["warm up"], ids=["warm"]))
    commit = opened[0].commit

    def failing_commit(force: bool = False):
        if opened[0].dirty:
            raise CollectionError("could not commit: no space left on the device")
        commit(force)

    opened[0].commit = failing_commit
    outcomes = submit_blocked_group(writes, [
        lambda writer: writer.add(["lost one"], ids=["lost-1"]),
        lambda writer: writer.add(["lost two"], ids=["lost-2"]),
    ])
    assert all(isinstance(outcome, CollectionError) and "no space" in str(outcome) for outcome in outcomes)
    assert opened[0].closed  # dropped with what it held staged
    ids, count = writes.submit(lambda writer: writer.add(["after the disk was freed"], ids=["later"]))
    assert ids == ["later"] and len(opened) == 2 and count == 3
    writes.close()
    with Collection.open(notes, readonly=True) as collection:
        assert sorted(collection.list_ids().ids) == ["later", "old", "warm"]


def test_an_idle_writer_lets_other_processes_write(notes, hashing_encoder):
    writes = GroupWriter(opener(notes, hashing_encoder), idle_seconds=0.2, name="notes")
    writes.submit(lambda writer: writer.add(["from the service"], ids=["served"]))
    with pytest.raises(CollectionError, match="open for writing"):
        Collection.open(notes, encoder=hashing_encoder)  # the service holds the writer lock
    deadline = time.monotonic() + 10
    while writes._writer is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with Collection.open(notes, encoder=hashing_encoder) as other:  # e.g. `densekit index`
        other.add(["from another process"], ids=["other"])
    ids, count = writes.submit(lambda writer: writer.add(["the service again"], ids=["served-2"]))
    assert count == 4
    writes.close()
    with pytest.raises(CollectionError, match="closing"):
        writes.submit(lambda writer: writer.add(["too late"]))


@pytest.mark.parametrize("value", [0, -1, float("nan"), 7200, True])
def test_writer_idle_seconds_is_checked(value):
    with pytest.raises(InvalidInputError, match="writer_idle_seconds"):
        ServerSettings(writer_idle_seconds=value)


def test_metrics_count_write_requests_and_commits(client):
    for number in range(3):
        assert client.post("/collections/pets/documents", json={"documents": [{"text": f"note {number}"}]}).status_code == 201
    assert client.delete("/collections/pets/documents/cat-1").status_code == 200
    text = client.get("/metrics").text
    assert 'densekit_write_requests_total{collection="pets"} 4' in text
    assert 'densekit_write_commits_total{collection="pets"} 4' in text  # one at a time: one commit each


def test_clients_answered_by_a_commit_join_the_next_group(notes, hashing_encoder):
    """While a (slow) commit runs, every client's next write queues; the writer takes them together."""
    opened: list = []
    writes = GroupWriter(opener(notes, hashing_encoder, opened), idle_seconds=5, name="notes")
    writes.submit(lambda writer: None)
    commit = opened[0].commit

    def slow_commit(force: bool = False):
        time.sleep(0.2)  # a commit that takes a while (a big collection, a slow disk)
        commit(force)

    opened[0].commit = slow_commit
    clients, rounds = 8, 5

    def client(worker: int) -> None:
        for step in range(rounds):
            writes.submit(lambda writer, step=step: writer.add([f"client {worker} note {step}"], ids=[f"c{worker}-{step}"]))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    assert writes.acknowledged == 1 + clients * rounds
    assert writes.commits <= 1 + rounds + 3, writes.commits  # about one per round, not one per write
    writes.close()
    with Collection.open(notes, readonly=True) as collection:
        assert collection.count() == 1 + clients * rounds


def test_a_released_model_gives_the_next_group_a_new_writer(tmp_path):
    from densekit.server.models_cache import ModelCache
    from densekit.server.registry import CollectionRegistry

    with Collection.create(tmp_path / "notes", model="hashing:16") as collection:
        collection.add(["a cat sat"], ids=["cat"])
    cache = ModelCache(max_models=1)
    registry = CollectionRegistry(ServerSettings(collections={"notes": tmp_path / "notes"}), cache)
    writes = registry.handles("notes").writes
    used, _ = writes.submit(lambda writer: writer.encoder())
    again, _ = writes.submit(lambda writer: writer.encoder())
    assert again is used
    cache.get("hashing:8", "hashing")  # the only slot: the collection's model is released
    fresh, count = writes.submit(lambda writer: (writer.add(["markets fell"], ids=["markets"]), writer.encoder())[1])
    assert fresh is not used and count == 2
    registry.close()
    cache.close()


def test_acknowledged_writes_survive_a_killed_server(collections_root, tmp_path):
    """`densekit serve` as a real process, clients writing, then SIGKILL: every 201 is on disk."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = str(Path(__file__).parents[2] / "src")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    environment.pop("DENSEKIT_API_KEY", None)
    server = subprocess.Popen([sys.executable, "-m", "densekit.cli.main", "serve", f"pets={collections_root / 'pets'}",
                               "--port", str(port), "--log-level", "warning"], env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                if call(url + "/healthz", "GET")[0] == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        stop = time.monotonic() + 3

        def client(worker: int) -> set[str]:
            acknowledged, step = set(), 0
            while time.monotonic() < stop:
                identifier = f"k{worker}-{step}"
                status, body = call(url + "/collections/pets/documents", "POST",
                                    {"documents": [{"id": identifier, "text": f"client {worker} note {step}"}]})
                assert status == 201, body
                acknowledged.add(identifier)
                step += 1
            return acknowledged

        with ThreadPoolExecutor(8) as pool:
            acknowledged = set().union(*pool.map(client, range(8)))
        with urllib.request.urlopen(url + "/metrics", timeout=60) as response:
            metrics = response.read().decode()
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    requests = int(next(line for line in metrics.splitlines() if line.startswith("densekit_write_requests_total")).split()[-1])
    commits = int(next(line for line in metrics.splitlines() if line.startswith("densekit_write_commits_total")).split()[-1])
    assert requests == len(acknowledged) > 8 and commits < requests
    with Collection.open(collections_root / "pets", readonly=True) as collection:
        assert {item.id for item in collection.get(sorted(acknowledged))} == acknowledged
        assert collection.count() == len(ORIGINAL) + len(acknowledged)


def test_requests_refused_before_staging_anything_leave_the_group_as_it_is(notes, hashing_encoder, monkeypatch):
    """An add of an id already there is refused before it stages anything: the others in its group
    are not undone and applied again. Undone, the embedded handle reloaded every index from its
    checkpoint once per refused request (a client retrying adds stalled every writer)."""
    from densekit.collection.embedded import persistence

    writes = GroupWriter(opener(notes, hashing_encoder), idle_seconds=5, name="notes")
    writes.submit(lambda writer: None)  # the writer is open before the group
    reloads = []
    real = persistence.load_spaces
    monkeypatch.setattr(persistence, "load_spaces", lambda *arguments, **options: reloads.append(1) or real(*arguments, **options))
    changes = []
    for number in range(12):
        changes.append(lambda writer, number=number: writer.add([f"new note {number}"], ids=[f"new-{number}"]))
        if number % 3 == 0:
            changes.append(lambda writer: writer.add(["a client's retry"], ids=["old"]))
    outcomes = submit_blocked_group(writes, changes)
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert len(refused) == 4 and all(isinstance(error, InvalidInputError) and "'old'" in str(error) for error in refused)
    acknowledged = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    assert len(acknowledged) == 12 and {count for _, count in acknowledged} == {13}
    assert reloads == [] and writes.commits == 3  # the opening request's, the blocker's, the group's
    writes.close()
    with Collection.open(notes, readonly=True) as collection:
        assert collection.count() == 13 and collection.get("old").text == "an old note"
