"""Replacing documents on PostgreSQL is one transaction: killing the writer and crashing the server
between its delete and its insert leaves every document in its old version or its new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from densekit.collection import Collection, Item
from densekit.encoders.hashing import HashingEncoder

DOCUMENTS, GROUP, STALL = 40, 5, 4  # the 4th group's transaction is killed half-way


@pytest.fixture
def own_server(pg_server, tmp_path):
    """A server of this test's own (it gets crashed), on the suite's binaries."""
    from densekit.testing.postgres_server import LocalServer

    # Commits wait for their WAL write (the suite's servers skip that for speed), so a commit that
    # returned survives the crash; the OS keeps what was written when the server process dies.
    server = LocalServer(tmp_path / "crashing").start({"synchronous_commit": "on"})
    try:
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE docs")
        yield server
    finally:
        server.stop()


def test_a_crash_between_delete_and_insert_loses_no_document(own_server, tmp_path):
    url = f"{own_server.url('docs')}?collection=docs"
    with Collection.create(url, encoder=HashingEncoder(16)) as collection:
        for n in range(DOCUMENTS):
            parent = f"doc{n}"
            collection.replace(parent, [Item(f"{parent}#{part}", f"old version of {parent} part {part}", parent=parent)
                                        for part in range(3)])
    marker = tmp_path / "stalled"
    writer = subprocess.Popen([sys.executable, str(Path(__file__).with_name("replace_writer.py")), url, str(marker),
                               str(STALL), str(DOCUMENTS), str(GROUP)])
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert writer.poll() is None, "the writer ended before it stalled"
            assert time.monotonic() < deadline, "the writer never reached the stall"
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
        own_server.crash()
    finally:
        writer.kill()
        writer.wait()
    own_server.start()

    with Collection.open(url, readonly=True, encoder=HashingEncoder(16)) as collection:
        versions = []
        for n in range(DOCUMENTS):
            parent = f"doc{n}"
            chunks = collection.get([f"{parent}#{part}" for part in range(3)])
            texts = [chunk.text for chunk in chunks]
            old = [f"old version of {parent} part {part}" for part in range(3)]
            new = [f"new version of {parent} part {part}" for part in range(2)]
            assert texts in (old, new), f"{parent} is half-replaced: {texts}"
            versions.append("new" if texts == new else "old")
        # Groups before the stalled one committed; the stalled one and those after it never happened.
        assert versions == ["new"] * (GROUP * (STALL - 1)) + ["old"] * (DOCUMENTS - GROUP * (STALL - 1))
        assert collection.check() == []
