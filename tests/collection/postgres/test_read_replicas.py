"""Searches go to streaming replicas, writes to the primary (a real pg_basebackup hot standby)."""

from __future__ import annotations

import logging

import psycopg
import pytest

from densekit.collection.postgres import PostgresCollection
from densekit.collection.registry import open_collection
from densekit.errors import CollectionError, InvalidInputError


def ids_of(hits):
    return [hit.id for hit in hits]


def test_searches_are_served_by_the_replica(pg_server, pg_replica, pg_collection, pg_url, hashing_encoder):
    replica_url = pg_replica.url("densekit")
    pg_replica.wait_replayed(pg_server)
    handle = PostgresCollection.open(pg_url, name=pg_collection.name, encoder=hashing_encoder, read_replicas=[replica_url])
    try:
        assert ids_of(handle.search("postman", k=1)) == ["dog-1"]
        with psycopg.connect(replica_url, autocommit=True) as replica:
            replica.execute("SELECT pg_wal_replay_pause()")
            try:
                handle.add(["a hamster ran on its wheel all night"], ids=["hamster-1"])  # to the primary
                assert handle.get("hamster-1") is not None  # reads of single items: the primary
                # The replica stopped replaying, so a search it serves cannot see the new item yet.
                assert "hamster-1" not in ids_of(handle.search("hamster wheel", k=7))
            finally:
                replica.execute("SELECT pg_wal_replay_resume()")
        pg_replica.wait_replayed(pg_server)
        assert ids_of(handle.search("hamster wheel", k=1)) == ["hamster-1"]
        assert handle._router.search_counts == [0, 3]  # every search went to the replica
        assert handle.info()["read_replicas"] == 1
    finally:
        handle.close()


def test_replicas_take_turns_and_refuse_writes(pg_server, pg_replica, pg_collection, pg_url):
    replica_url = pg_replica.url("densekit")
    pg_replica.wait_replayed(pg_server)
    with open_collection(pg_url, name=pg_collection.name, readonly=True, read_replicas=[replica_url, replica_url]) as handle:
        for _ in range(4):
            handle.search("cat", k=1)
        assert handle._router.search_counts == [0, 2, 2]
    # A replica given as the primary: opening for writing works, writing does not, and nothing is stored.
    with PostgresCollection.open(replica_url, name=pg_collection.name) as wrong:
        with pytest.raises(CollectionError, match="refuses writes.*open the primary"):
            wrong.add(["nope"], ids=["nope-1"])
        with pytest.raises(CollectionError, match="refuses writes"):
            wrong.delete(["cat-1"])
    assert pg_collection.get("nope-1") is None and pg_collection.get("cat-1") is not None


def test_the_replica_refuses_writes_at_the_server(pg_server, pg_replica, pg_collection):
    # Even a session that did not ask for read-only gets refused: the standby is read-only itself.
    pg_replica.wait_replayed(pg_server)
    with psycopg.connect(pg_replica.url("densekit"), autocommit=True) as replica:
        assert replica.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            replica.execute(f'DELETE FROM "{pg_collection.name}_items"')
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            replica.execute("CREATE TABLE nope (x int)")


def test_replicas_are_only_for_postgres(tmp_path):
    with pytest.raises(InvalidInputError, match="read replicas are for PostgreSQL collections"):
        open_collection(tmp_path / "folder", read_replicas=["postgresql://x@127.0.0.1/db"])


@pytest.fixture
def own_replica(pg_server, tmp_path):
    """A streaming replica for this test alone, so stopping it does not disturb the shared one."""
    replica = pg_server.start_replica(tmp_path / "replica")
    try:
        yield replica
    finally:
        replica.stop()


def replica_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "read replica" in r.getMessage()]


def test_searches_fall_back_to_the_primary_when_the_replica_stops(pg_server, own_replica, pg_collection, pg_url, caplog):
    replica_url = own_replica.url("densekit")
    own_replica.wait_replayed(pg_server)
    expected = ids_of(pg_collection.search("postman", k=3))
    caplog.set_level(logging.WARNING, logger="densekit.collection.postgres")
    with open_collection(pg_url, name=pg_collection.name, readonly=True, read_replicas=[replica_url]) as handle:
        assert ids_of(handle.search("postman", k=3)) == expected
        assert handle._router.search_counts == [0, 1] and not replica_warnings(caplog)

        own_replica.stop()
        # The search that meets the dead connection is answered by the primary, with a warning.
        assert ids_of(handle.search("postman", k=3)) == expected
        assert ids_of(handle.search("cat", k=2, mode="hybrid"))[0].startswith("cat")
        assert handle._router.search_counts == [2, 2]  # the replica's attempt failed, then the primary
        warnings = replica_warnings(caplog)
        assert len(warnings) == 1 and "failed" in warnings[0] and str(own_replica.port) in warnings[0]

        # Back up: after the retry interval the next search reconnects to it (and says so).
        own_replica.start()
        own_replica.wait_replayed(pg_server)
        handle._router.retry_seconds = 0.0
        assert ids_of(handle.search("postman", k=3)) == expected
        assert handle._router.search_counts == [2, 3]
        assert "is back" in replica_warnings(caplog)[-1]


def test_a_replica_down_at_open_is_skipped_with_a_warning(pg_server, own_replica, pg_collection, pg_url, caplog):
    replica_url = own_replica.url("densekit")
    own_replica.stop()
    caplog.set_level(logging.WARNING, logger="densekit.collection.postgres")
    with open_collection(pg_url, name=pg_collection.name, readonly=True, read_replicas=[replica_url]) as handle:
        assert ids_of(handle.search("postman", k=1)) == ["dog-1"]
        assert ids_of(handle.search_vector(handle.encoder("text").encode(["postman"])[0], k=1)) == ["dog-1"]
        assert handle._router.search_counts == [2, 0]
        warnings = replica_warnings(caplog)
        assert len(warnings) == 1 and "unreachable" in warnings[0]
