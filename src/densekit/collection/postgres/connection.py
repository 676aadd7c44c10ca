"""Connections for the PostgreSQL store: URL parsing, the vector type, and primary / replica routing.

Writes and the manifest go to the primary; searches go to read replicas when there are any, in turn.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ...errors import CollectionError, InvalidInputError, MissingDependencyError
from .schema import EF_SEARCH

SCHEMES = ("postgresql", "postgres")
#: Seconds a reconnect attempt to a replica that went down may take (it delays one search).
RETRY_CONNECT_TIMEOUT = 2
_log = logging.getLogger(__name__)


def is_postgres_url(location: Any) -> bool:
    """True for ``postgresql://...`` or ``postgres://...`` strings.

    Example:
        >>> is_postgres_url("postgresql://me@db:5432/search")
        True
    """
    return isinstance(location, str) and location.split("://", 1)[0].lower() in SCHEMES and "://" in location


def split_url(url: str) -> tuple[str, str | None]:
    """Separate densekit's ``collection=NAME`` query parameter from the connection URL.

    Example:
        >>> split_url("postgresql://me@db/search?collection=news&sslmode=require")
        ('postgresql://me@db/search?sslmode=require', 'news')
    """
    if not is_postgres_url(url):
        raise InvalidInputError(f"{url!r} is not a PostgreSQL URL; expected postgresql://user@host:port/database")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in query if key == "collection"]
    rest = [(key, value) for key, value in query if key != "collection"]
    return urlunsplit(parts._replace(query=urlencode(rest))), (names[-1] if names else None)


def redact(url: str) -> str:
    """The URL without its password, for messages and ``info()``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, *, readonly: bool = False, create_extension: bool = False, vector_type: bool = True, timeout: int = 10):
    """An autocommit psycopg connection with the pgvector type registered.

    Args:
        url: a libpq connection URL (without densekit's ``collection`` parameter).
        readonly: make every transaction read-only (the server refuses writes too).
        create_extension: run ``CREATE EXTENSION IF NOT EXISTS vector`` first (needs the privilege).
        vector_type: register pgvector's types (needs the extension in the database).
        timeout: seconds to wait for the server to answer the connection.
    """
    try:
        import psycopg
    except ImportError as error:
        raise MissingDependencyError("psycopg[binary]", "the PostgreSQL store") from error
    try:
        from pgvector.psycopg import register_vector
    except ImportError as error:
        raise MissingDependencyError("pgvector", "the PostgreSQL store") from error
    try:
        connection = psycopg.connect(url, autocommit=True, connect_timeout=timeout)
    except psycopg.OperationalError as error:
        raise CollectionError(f"cannot connect to {redact(url)!r}: {str(error).strip()}") from error
    try:
        if create_extension:
            installed = connection.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone()
            if not installed:
                connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        if readonly:
            connection.execute("SET default_transaction_read_only = on")
        if vector_type:
            register_vector(connection)
            # pgvector >= 0.8: a filtered HNSW scan keeps going until LIMIT rows pass the filter.
            connection.execute("SET hnsw.iterative_scan = strict_order")
            connection.execute(f"SET hnsw.ef_search = {int(EF_SEARCH)}")
    except psycopg.ProgrammingError as error:
        connection.close()
        raise CollectionError(
            f"the database at {redact(url)!r} has no pgvector extension ({str(error).strip()}); "
            "run CREATE EXTENSION vector as its owner"
        ) from error
    except BaseException:
        connection.close()
        raise
    return connection


class _Replica:
    """One read replica: its URL, its connection (None while it is down) and when it went down."""

    def __init__(self, url: str):
        self.url = url
        self.connection = None
        self.lock = threading.Lock()
        self.down_since: float | None = None


class Router:
    """The primary connection for writes, and replica connections taken in turn for searches.

    A replica that cannot be reached (at open, or when a search on it fails with a connection error)
    is marked down with a logged warning and searches go to the other replicas, or the primary when
    none is left; every ``retry_seconds`` one search tries to reconnect it. One handle may be shared
    by threads: each connection is used under its own lock.
    """

    #: Seconds between attempts to reconnect a replica that went down.
    retry_seconds: float = 30.0

    def __init__(self, url: str, replicas: Sequence[str] | None, *, readonly: bool, create: bool):
        self.url = url
        self.replica_urls = [split_url(replica)[0] for replica in (replicas or [])]
        self.primary = connect(url, readonly=readonly, create_extension=create)
        self.primary_lock = threading.RLock()
        self.replicas = [_Replica(replica) for replica in self.replica_urls]
        try:
            for replica in self.replicas:
                self._reconnect(replica, first=True)
        except BaseException:
            self.close()
            raise
        self._turn = itertools.cycle(range(len(self.replicas))) if self.replicas else None
        self._turn_lock = threading.Lock()
        #: How many searches each connection served (primary first): lets tests check the routing.
        self.search_counts = [0] * (1 + len(self.replicas))

    def _reconnect(self, replica: _Replica, first: bool = False) -> bool:
        """Connect ``replica``; on failure mark it down (warning once per outage) and return False."""
        try:
            replica.connection = connect(replica.url, readonly=True, timeout=10 if first else RETRY_CONNECT_TIMEOUT)
        except CollectionError as error:
            if replica.down_since is None:
                _log.warning("read replica %s is unreachable, searches go elsewhere: %s", redact(replica.url), error)
            replica.down_since = time.monotonic()
            return False
        if replica.down_since is not None:
            _log.warning("read replica %s is back; it serves searches again", redact(replica.url))
        replica.down_since = None
        return True

    def for_search(self) -> tuple[Any, Any, int | None]:
        """(connection, lock, replica position) for a search: the next live replica, or the primary
        (position None) when there is none."""
        if self._turn is None:
            self.search_counts[0] += 1
            return self.primary, self.primary_lock, None
        with self._turn_lock:
            for _ in range(len(self.replicas)):
                position = next(self._turn)
                replica = self.replicas[position]
                if replica.down_since is not None:
                    if time.monotonic() - replica.down_since < self.retry_seconds or not self._reconnect(replica):
                        continue
                self.search_counts[1 + position] += 1
                return replica.connection, replica.lock, position
            self.search_counts[0] += 1
        return self.primary, self.primary_lock, None

    def mark_down(self, position: int, error: BaseException) -> None:
        """A search on replica ``position`` lost its connection: stop using it (logged as a warning)."""
        with self._turn_lock:
            replica = self.replicas[position]
            if replica.down_since is not None:
                return  # another thread got there first
            replica.down_since = time.monotonic()
            connection, replica.connection = replica.connection, None
        _log.warning(
            "read replica %s failed (%s); searches fall back to the other replicas or the primary",
            redact(replica.url), str(error).strip() or type(error).__name__,
        )  # fmt: skip
        if connection is not None and not connection.closed:
            connection.close()

    def close(self) -> None:
        replicas = [replica.connection for replica in getattr(self, "replicas", [])]
        for connection in [getattr(self, "primary", None), *replicas]:
            if connection is not None and not connection.closed:
                connection.close()
