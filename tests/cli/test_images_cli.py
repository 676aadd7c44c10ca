"""`densekit images index | search | similar | caption` through typer's runner, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from densekit.cli.main import app

runner = CliRunner()
FILES = {"astronaut": "astronaut.jpg", "coffee": "coffee.png", "chelsea": "pets/chelsea.webp", "rocket": "rocket.bmp"}


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    from densekit.images.tiny import sample_clip

    # Same folder name as tests/images' fixture: whichever runs first builds it for the session.
    return sample_clip(tmp_path_factory.getbasetemp() / "tiny-clip-trained")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    from densekit.images.tiny import sample_pictures

    pictures = sample_pictures()
    folder = tmp_path_factory.mktemp("cli") / "photos"
    (folder / "pets").mkdir(parents=True)
    for name, relative in FILES.items():
        Image.fromarray(pictures[name]).save(folder / relative)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


def run(*arguments):
    return runner.invoke(app, [str(argument) for argument in arguments])


def test_index_search_similar(tmp_path, clip_path, photos):
    collection = tmp_path / "photos.dk"
    result = run("images", "index", collection, photos, "--model", clip_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added_images"] == 4 and report["images"] == 4 and report["space"] == "images"
    assert [problem["path"].split("/")[-1] for problem in report["problems"]] == ["broken.jpg"]

    result = run("images", "index", collection, photos, "--json")
    assert json.loads(result.stdout)["unchanged_images"] == 4

    result = run("images", "search", collection, "a cup of coffee", "-k", "2", "--json")
    hits = json.loads(result.stdout)["hits"]
    assert result.exit_code == 0 and len(hits) == 2 and hits[0]["metadata"]["file"] == "coffee.png"
    assert hits[0]["kind"] == "image" and Path(hits[0]["thumbnail_path"]).is_file()

    result = run("images", "search", collection, "a cup of coffee", "--where", "format=WEBP", "--json")
    assert [hit["metadata"]["file"] for hit in json.loads(result.stdout)["hits"]] == ["chelsea.webp"]

    result = run("images", "search", collection, "a rocket on a launch pad")
    assert result.exit_code == 0 and "rocket.bmp" in result.stdout and "thumbnail" in result.stdout

    copy = tmp_path / "astronaut-copy.png"
    Image.open(photos / "astronaut.jpg").resize((200, 200)).save(copy)
    result = run("images", "similar", collection, copy, "-k", "1", "--json")
    assert json.loads(result.stdout)["hits"][0]["metadata"]["file"] == "astronaut.jpg"
    result = run("images", "similar", collection, photos / "astronaut.jpg", "-k", "4", "--json")
    files = [hit["metadata"]["file"] for hit in json.loads(result.stdout)["hits"]]
    assert "astronaut.jpg" not in files and len(files) == 3  # the picture itself is left out
    result = run("images", "similar", collection, photos / "astronaut.jpg", "-k", "1", "--include-self", "--json")
    assert json.loads(result.stdout)["hits"][0]["metadata"]["file"] == "astronaut.jpg"
    assert "astronaut.jpg" in run("images", "similar", collection, copy).stdout


def test_images_space_added_to_a_text_collection(tmp_path, clip_path, photos):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "cat.txt").write_text("The cat sat on the warm mat.")
    collection = tmp_path / "mixed"
    assert run("index", collection, notes, "--model", "hashing:64", "--quiet").exit_code == 0
    result = run("images", "index", collection, photos, "--model", clip_path, "--json")
    assert result.exit_code == 0, result.output
    details = json.loads(run("info", collection, "--json").stdout)
    assert details["count"] == 5 and details["spaces"]["images"]["kind"] == "image"
    assert details["spaces"]["text"]["vectors"] == 1 and details["spaces"]["images"]["vectors"] == 4
    hits = json.loads(run("search", collection, "cat mat", "--json").stdout)["hits"]
    assert [hit["id"] for hit in hits] == ["notes/cat.txt#0"]  # relative to the indexed folder
    hits = json.loads(run("images", "search", collection, "a photo of a cat", "-k", "1", "--json").stdout)["hits"]
    assert hits[0]["metadata"]["file"] == "chelsea.webp"
    assert run("check", collection).exit_code == 0


def test_caption_forms_and_output(tmp_path, clip_path, photos):
    picture = photos / "pets" / "chelsea.webp"
    captions = ["a photo of an astronaut", "a photo of a cat", "a cup of coffee"]
    result = run("images", "caption", picture, "--captions", *captions, "--model", clip_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["best_caption"] == "a photo of a cat" and len(data["scores"]) == 3
    assert abs(sum(row["probability"] for row in data["scores"]) - 1) < 1e-4

    listed = tmp_path / "captions.txt"
    listed.write_text("\n".join(captions) + "\n\n")
    result = run("images", "caption", picture, "--captions-file", listed, "-m", clip_path)
    assert result.exit_code == 0 and "best caption" in result.stdout and "a photo of a cat" in result.stdout
    result = run("images", "caption", picture, *captions, "-m", clip_path, "--json")  # plain arguments work too
    assert json.loads(result.stdout)["best_caption"] == "a photo of a cat"


def test_errors_are_clean(tmp_path, clip_path, photos):
    from densekit.errors import DensekitError

    collection = tmp_path / "photos.dk"
    assert run("images", "index", collection, photos, "-m", clip_path, "-q").exit_code == 0
    for arguments, message in [
        (("images", "caption", photos / "rocket.bmp", "-m", clip_path), "no candidate captions"),
        (("images", "search", collection, "x", "--space", "text"), "no space 'text'"),
        (("images", "similar", collection, photos / "broken.jpg"), "corrupt image header"),
        (("images", "similar", collection, photos / "rocket.bmp", "-k", "0"), "k must be a positive integer"),
        (("images", "index", collection, photos, "-m", "some/other-clip"), "was built with"),
    ]:
        result = run(*arguments)
        assert isinstance(result.exception, DensekitError) and message in str(result.exception), (arguments, result.output)


def test_real_subprocess(tmp_path, clip_path, photos):
    # Each subprocess pays torch's and transformers' import: index in-process, search for real.
    densekit = Path(sys.executable).with_name("densekit")
    collection = tmp_path / "photos.dk"
    assert run("images", "index", collection, photos, "-m", clip_path, "--quiet").exit_code == 0
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "DENSEKIT_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    completed = subprocess.run([densekit, "images", "search", collection, "a rocket on a launch pad", "-k", "1", "--json"],
                               check=True, capture_output=True, text=True, env=environment)
    assert json.loads(completed.stdout)["hits"][0]["metadata"]["file"] == "rocket.bmp"
    completed = subprocess.run([densekit, "images", "search", tmp_path / "absent", "a cat"],
                               capture_output=True, text=True, env=environment)
    assert completed.returncode == 2 and completed.stderr.startswith("error:") and "Traceback" not in completed.stderr
