"""Re-indexes every document of a PostgreSQL collection (test_replace_crash.py), a group at a time
through ``Collection.replace``, and stalls inside the transaction of group STALL after its delete,
once it has told the test so (MARKER), so the test can kill this process and the server there."""

import sys
import time
from pathlib import Path

from densekit.collection import Collection, Item
from densekit.collection.postgres import PostgresCollection
from densekit.encoders.hashing import HashingEncoder

url, marker, stall, documents, group = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
calls = []


def step(self, name):
    calls.append(name)
    if len(calls) == stall:
        marker.write_text("deleted, not yet inserted")
        time.sleep(120)  # killed here


PostgresCollection.on_write_step = step
with Collection.open(url, encoder=HashingEncoder(16)) as collection:
    for start in range(0, documents, group):
        parents = [f"doc{n}" for n in range(start, start + group)]
        items = [Item(f"{parent}#{part}", f"new version of {parent} part {part}", parent=parent)
                 for parent in parents for part in range(2)]
        collection.replace(parents, items)
