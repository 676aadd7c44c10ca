"""Searches go to streaming replicas, writes to the primary (a real pg_basebackup hot standby)."""

from __future__ import annotations

import psycopg
import pytest

from densekit.collection.postgres import PostgresCollection
from densekit.collection.stores import open_collection
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
    with pytest.raises(CollectionError, match="read-only|recovery"):
        # A replica given as the primary: opening for writing works, writing does not.
        with PostgresCollection.open(replica_url, name=pg_collection.name) as wrong:
            try:
                wrong.add(["nope"])
            except psycopg.errors.ReadOnlySqlTransaction as error:
                raise CollectionError(f"read-only: {error}") from error


def test_replicas_are_only_for_postgres(tmp_path):
    with pytest.raises(InvalidInputError, match="read replicas are for PostgreSQL collections"):
        open_collection(tmp_path / "folder", read_replicas=["postgresql://x@127.0.0.1/db"])
