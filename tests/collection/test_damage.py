"""Hostile input to the embedded store's files (issue 18): every kind of damage `densekit check`
lists as a problem (never a traceback) and `check --repair` rebuilds what can be derived; half-created
collections are reset by the next `index`; failed commits leave no stray files; collections on
read-only media are readable; a copy's resume state follows the source collection, not its path."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection
from densekit.collection.check import check_collection, repair_collection
from densekit.collection.copy import copy_collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import CollectionError

WORDS = "apple river stone cloud tiger violin garden rocket pepper castle mirror island lantern marble".split()
QUERIES = ["apple river", "tiger violin", "castle mirror island", "marble lantern", "pepper rocket stone"]


def texts(count: int, seed: int = 0) -> list[str]:
    return [" ".join(WORDS[(n * 7 + seed + offset) % len(WORDS)] for offset in range(n % 4 + 2)) for n in range(count)]


def build(folder, count: int = 40, seed: int = 0, encoder=None) -> None:
    with Collection.create(folder, encoder=encoder or HashingEncoder()) as collection:
        collection.add(texts(count, seed), ids=[f"d{n}" for n in range(count)], metadata=[{"n": n} for n in range(count)])


def files(folder):
    """The space's index file (its checkpoint)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder / manifest["spaces"]["text"]["index"]["file"]


def sparse_sql(folder, *statements):
    """Change tables inside a collection's content store behind its back."""
    connection = sqlite3.connect(folder / "content.sqlite")
    with connection:
        for statement in statements:
            connection.execute(statement)
    connection.close()


def run(*arguments):
    return CliRunner().invoke(app, [str(argument) for argument in arguments])


@pytest.fixture
def built(tmp_path):
    build(tmp_path / "c")
    return tmp_path / "c"


def test_a_sound_collection_checks_ok(built):
    assert check_collection(built) == []


def test_flipped_sparse_data_is_found_and_repaired(built):
    connection = sqlite3.connect(built / "content.sqlite")
    key, blob = connection.execute(
        "SELECT segment, data FROM sparse_documents_blobs ORDER BY length(data) DESC LIMIT 1").fetchone()
    data = bytearray(blob)
    data[len(data) // 2] ^= 0xFF
    with connection:
        connection.execute("UPDATE sparse_documents_blobs SET data = ? WHERE segment = ?", (bytes(data), key))
    connection.close()
    problems = check_collection(built)
    assert problems and "sparse" in problems[0]
    result = run("check", built, "--repair", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["repaired"] == ["sparse index rebuilt from the content store"]
    assert check_collection(built) == []
    with Collection.open(built, readonly=True) as reopened:
        assert reopened.search(QUERIES[0], k=3, mode="sparse")


def test_a_segment_missing_its_data_is_found_and_repaired(built):
    sparse_sql(built, "DELETE FROM sparse_chunks_blobs WHERE segment = (SELECT max(segment) FROM sparse_chunks_blobs)")
    problems = check_collection(built)
    assert problems and "sparse" in problems[0] and "no data" in problems[0]
    result = run("check", built, "--repair", "--json")
    assert result.exit_code == 0, result.output
    assert check_collection(built) == []


def test_files_of_another_collection_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEKIT_CHECKPOINT_MIN_ROWS", "0")  # each commit writes a checkpoint of its rows
    build(tmp_path / "mine")
    build(tmp_path / "other", seed=3)
    shutil.copy(files(tmp_path / "other"), files(tmp_path / "mine"))
    problems = check_collection(tmp_path / "mine")
    assert any("index file" in problem and "does not match" in problem for problem in problems)


def test_sparse_tables_of_another_collection_are_found(built, tmp_path):
    build(tmp_path / "other", seed=3)
    other = tmp_path / "other" / "content.sqlite"
    statements = [f"ATTACH DATABASE '{other}' AS other"]
    for table in ("sparse_documents", "sparse_chunks"):
        for suffix in ("terms", "segments", "deleted"):
            statements += [f"DELETE FROM {table}_{suffix}", f"INSERT INTO {table}_{suffix} SELECT * FROM other.{table}_{suffix}"]
    sparse_sql(built, *statements)
    problems = check_collection(built)
    assert any("sparse" in problem for problem in problems), problems


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage", "garbage and no stored vectors"])
def test_broken_index_files_are_problems_and_repair_rebuilds_them(built, damage):
    index = files(built)
    before = [hit.id for hit in Collection.open(built, readonly=True).search(QUERIES[0], k=5)]
    if damage == "missing":
        index.unlink()
    else:
        index.write_bytes(b"" if damage == "empty" else b"not a zip file at all")
    if damage.endswith("no stored vectors"):
        sparse_sql(built, "DELETE FROM vectors")
    result = run("check", built)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "space 'text'" in result.output
    how = "re-encoded" if damage.endswith("no stored vectors") else "from the stored vectors"
    assert repair_collection(built) == [f"space 'text': rebuilt its index from 40 items ({how})"]
    assert check_collection(built) == []
    with Collection.open(built, readonly=True) as reopened:
        assert [hit.id for hit in reopened.search(QUERIES[0], k=5)] == before


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_broken_content_store_is_a_problem_and_never_replaced_by_an_empty_one(built, damage):
    content = built / "content.sqlite"
    if damage == "missing":
        content.unlink()
        for leftover in built.glob("content.sqlite-*"):
            leftover.unlink()
    else:
        content.write_bytes(content.read_bytes()[:100])
    result = run("check", built)
    assert result.exit_code == 1 and "Traceback" not in result.output and "content store" in result.output
    with pytest.raises(CollectionError, match="content store|database"):
        Collection.open(built)  # a writer must not start an empty content store under the manifest
    assert not (damage == "missing" and content.exists())
    with pytest.raises(CollectionError, match="restore it from a backup"):
        repair_collection(built)


def test_a_missing_vocabulary_is_a_problem(built):
    sparse_sql(built, "DELETE FROM sparse_chunks_terms")
    problems = check_collection(built)
    assert problems and "sparse tables" in problems[0]
    assert "Traceback" not in run("check", built).output


def test_a_half_created_collection_is_reset_by_index(tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / ".writer.lock").write_text("")
    (folder / "content.sqlite").write_bytes(b"")
    (folder / "spaces").mkdir()
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The cat sat on the mat.")
    result = run("index", folder, docs, "--model", "hashing:64", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 1
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's own file")
    refused = run("index", tmp_path / "mine", docs, "--model", "hashing:64")
    assert refused.exit_code != 0 and "not an empty folder" in str(refused.exception)
    assert (tmp_path / "mine" / "notes.txt").exists()


def test_a_failed_commit_leaves_no_stray_files(built):
    with Collection.open(built) as collection:
        before = sorted(path.name for path in built.rglob("*"))
        collection.add(["a new text about rivers"], ids=["new"])

        def fail(step: str) -> None:
            if step == "sparse":
                raise OSError(28, "No space left on device")

        collection.on_save_step = fail
        with pytest.raises(CollectionError, match="No space left"):
            collection.commit()
        assert sorted(path.name for path in built.rglob("*")) == before  # no new index file, no .tmp
        collection.on_save_step = None
    assert check_collection(built) == []
    with Collection.open(built, readonly=True) as reopened:
        assert reopened.get("new") is not None  # the handle kept its staged write and committed it on close


@pytest.fixture
def read_only_copy(tmp_path):
    """``built`` behind a read-only bind mount (skipped where mounting is not allowed)."""
    mounts = []

    def mount(folder):
        target = tmp_path / f"readonly-{len(mounts)}"
        target.mkdir()
        for command in (["mount", "--bind", str(folder), str(target)], ["mount", "-o", "remount,ro,bind", str(target)]):
            if subprocess.run(command, capture_output=True).returncode != 0:
                subprocess.run(["umount", str(target)], capture_output=True)
                pytest.skip("bind mounts are not allowed here (needs root)")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", str(target)], capture_output=True)


def test_a_closed_collection_on_read_only_media_opens_and_searches(built, read_only_copy):
    target = read_only_copy(built)
    for command in (["search", target, "apple river", "--json"], ["info", target, "--json"], ["check", target]):
        result = run(*command)
        assert result.exit_code == 0, (command, result.output)
    with Collection.open(target, readonly=True) as collection:
        assert collection.count() == 40
    assert run("index", target, built).exit_code != 0  # writing is refused, with one line


def test_a_read_only_copy_with_a_non_empty_wal_still_reads_every_commit(tmp_path, read_only_copy):
    import sys

    folder = tmp_path / "c"
    build(folder)
    # A writer killed after its commit (never closed) leaves that commit in the -wal file.
    script = (
        "import os, sys\n"
        "from densekit.collection import Collection\n"
        "from densekit.encoders.hashing import HashingEncoder\n"
        "collection = Collection.open(sys.argv[1], encoder=HashingEncoder())\n"
        "collection.add(['a late text about castles'], ids=['late'])\n"
        "collection.commit()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(folder)], check=True, timeout=120)
    assert (folder / "content.sqlite-wal").stat().st_size > 0
    target = read_only_copy(folder)
    with Collection.open(target, readonly=True) as collection:
        assert collection.count() == 41 and collection.get("late").text == "a late text about castles"
    assert run("check", target).exit_code == 0


def test_copy_resume_follows_the_source_collection_not_its_path(tmp_path):
    source, destination = tmp_path / "source", tmp_path / "copy"
    build(source, count=30)
    assert copy_collection(source, destination).copied == 30
    shutil.rmtree(source)
    build(source, count=12, seed=5)  # rebuilt at the same path: another collection
    report = copy_collection(source, destination)
    assert (report.copied, report.skipped, report.resumed) == (12, 0, False)
    with Collection.open(destination, readonly=True) as copied:
        assert copied.get("d3").text == texts(12, 5)[3]


def test_collections_made_before_key_counts_still_list_their_keys(built):
    manifest_path = built / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["metadata_keys"]  # as an older densekit wrote it
    manifest_path.write_text(json.dumps(manifest))
    with Collection.open(built, readonly=True) as reader:
        assert reader.metadata_keys() == {"n": 40}
    with Collection.open(built) as writer:
        writer.add(["one more"], ids=["x"], metadata=[{"n": 1, "new": True}])
    assert json.loads(manifest_path.read_text())["metadata_keys"] == {"n": 41, "new": 1}
