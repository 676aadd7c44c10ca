"""Metadata from files: the path (--path-metadata templates), Markdown front matter, and titles."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.collection import Collection
from densekit.encoders.hashing import HashingEncoder
from densekit.errors import InvalidInputError
from densekit.ingest import ingest
from densekit.ingest_sources import front_matter, path_pattern
from densekit.snippets import make_snippet, title_from_text


@pytest.fixture
def news(tmp_path):
    root = tmp_path / "news"
    (root / "business").mkdir(parents=True)
    (root / "sport").mkdir()
    (root / "business" / "001.txt").write_text("Bank raises rates\n\nThe central bank raised interest rates by half a point.")
    (root / "sport" / "002.md").write_text("---\ntitle: Cup final report\nyear: 2024\n---\n# Cup final\nThe home side won the cup.\n")
    (root / "stray.txt").write_text("A file outside any category folder.")
    (root / "rows.jsonl").write_text(json.dumps({"id": "r1", "text": "A row with its own title.", "title": "Row title"}) + "\n")
    return root


def test_path_metadata_front_matter_and_titles(tmp_path, news):
    with Collection.create(tmp_path / "c", encoder=HashingEncoder()) as collection:
        report = ingest(collection, [news], path_metadata="{category}/{file}")
        by_parent = {item.parent: item for page in [collection.list_ids(limit=100)] for item in collection.get(page.ids)}
    business = by_parent["news/business/001.txt"].metadata
    assert business["category"] == "business" and business["title"] == "Bank raises rates"
    sport = by_parent["news/sport/002.md"].metadata
    assert (sport["category"], sport["title"], sport["year"]) == ("sport", "Cup final report", 2024)
    assert "category" not in by_parent["news/stray.txt"].metadata
    assert by_parent["r1"].metadata["title"] == "Row title"
    assert [reason for path, reason in report.problems if path.endswith("stray.txt")] == [
        "path 'stray.txt' does not fit --path-metadata '{category}/{file}'; indexed without path metadata"
    ]


def test_path_templates_are_checked():
    assert path_pattern("{year}/{month}-{file}").fullmatch("2024/05-a.txt").groupdict() == {"year": "2024", "month": "05", "file": "a.txt"}
    with pytest.raises(InvalidInputError, match="names no key"):
        path_pattern("plain/path")
    with pytest.raises(InvalidInputError, match="names a key twice"):
        path_pattern("{a}/{a}")


def test_front_matter_and_titles():
    assert front_matter("---\ntitle: 'Hello'\ndraft: true\ncount: 3\n---\nbody") == {"title": "Hello", "draft": True, "count": 3}
    assert front_matter("---\ntitle: never closed\nbody") == {}
    assert front_matter("no front matter") == {}
    assert title_from_text("\n\n## A heading\ntext") == "A heading"
    assert title_from_text("word " * 60).endswith("…") and len(title_from_text("word " * 60)) <= 121


def test_snippets_cut_at_words_and_mark_the_query():
    text = "piah. Since the war the bank of England raised interest rates " + "and other things " * 30 + "until rates fell."
    snippet, spans = make_snippet(text, "who raised interest rates", width=80)
    assert snippet.startswith("…") and not snippet[1].isspace() and snippet.endswith("…")
    assert [snippet[start:end] for start, end in spans] == ["raised", "interest", "rates"]
    assert make_snippet("short text", "other") == ("short text", [])


def test_cli_warns_about_unknown_filter_keys_and_lists_keys(tmp_path, news):
    runner = CliRunner()
    collection = tmp_path / "c"
    result = runner.invoke(app, ["index", str(collection), str(news), "-m", "hashing:64", "--path-metadata", "{category}/{file}", "-q"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["search", str(collection), "interest rates", "--where", "category=business", "--json"])
    hit = json.loads(result.stdout)["hits"][0]
    assert hit["title"] == "Bank raises rates" and "interest" in hit["snippet"] and hit["highlights"]
    assert "warnings" not in json.loads(result.stdout)
    result = runner.invoke(app, ["search", str(collection), "cup", "--where", "categry=sport", "--json"])
    assert json.loads(result.stdout)["warnings"][0].startswith("no item has the metadata key 'categry'")
    info = json.loads(runner.invoke(app, ["info", str(collection), "--json"]).stdout)
    assert info["metadata_keys"]["category"] == 2 and info["metadata_keys"]["title"] == 4
    assert "metadata keys: category (2)" in runner.invoke(app, ["info", str(collection)]).stdout
