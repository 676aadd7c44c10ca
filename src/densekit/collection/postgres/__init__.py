"""The PostgreSQL + pgvector store: the collection API on a database server (replicas, many writers).

Needs ``pip install "psycopg[binary]" pgvector`` and a server with the vector extension (>= 0.8 for
filtered searches that always return k hits).
"""

from .collection import PostgresCollection
from .connection import is_postgres_url

__all__ = ["PostgresCollection", "is_postgres_url"]
