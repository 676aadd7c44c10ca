"""Hostile image files through ``index_images`` (the function behind `densekit images index`).

Every file must end either indexed or in the report with a clear reason: no unhandled exception,
no hang (each run has an alarm), memory bounded (the hostile folder is indexed in a subprocess
whose peak RSS is compared with indexing a clean folder). Files are made with Pillow at test time:
valid seeds of six formats and many modes, mutated by hypothesis (bit flips, inserted and
overwritten bytes, truncation at any point, wrong extensions), plus hand-made cases: decompression-
bomb headers, a 100,000 x 1 banner, a JPEG scan bomb, many-frame GIFs and TIFFs, EXIF orientation,
symbolic-link loops, a pipe, a folder named like an image. The long setting (thousands of files)
is benchmarks/reliability/image_fuzz.py.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from densekit.collection import Collection
from densekit.collection.check import check_collection
from densekit.images.indexing import index_images
from densekit.images.loading import MAX_COUNTED_FRAMES, SUFFIXES

#: Seconds one indexing run may take before the test calls it a hang (the machine is shared and slow).
HANG_SECONDS = 60


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail with a clear message if the block runs longer than ``seconds`` (main thread only)."""

    def expired(signum, frame):
        raise TimeoutError(f"indexing hung for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def seed_images() -> dict[str, bytes]:
    """Valid files of every supported format in many modes, each a few hundred bytes to a few KB."""
    generator = np.random.default_rng(7)
    colour = Image.fromarray(generator.integers(0, 256, (24, 36, 3), dtype=np.uint8))
    deep = Image.fromarray(generator.integers(0, 65535, (24, 36), dtype=np.uint16))
    palette = colour.convert("P")
    palette.info["transparency"] = 3
    turned = Image.Exif()
    turned[0x0112] = 6
    frames = [Image.fromarray(generator.integers(0, 256, (16, 16, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    seeds: list[tuple[str, Image.Image, str, dict]] = [
        ("rgb.png", colour, "PNG", {}),
        ("rgba.png", colour.convert("RGBA"), "PNG", {}),
        ("la.png", colour.convert("LA"), "PNG", {}),
        ("palette.png", palette, "PNG", {"transparency": 3}),
        ("bilevel.png", colour.convert("1"), "PNG", {}),
        ("deep.png", deep, "PNG", {}),
        ("rgb.jpg", colour, "JPEG", {"quality": 90}),
        ("progressive.jpg", colour, "JPEG", {"progressive": True}),
        ("grey.jpg", colour.convert("L"), "JPEG", {}),
        ("cmyk.jpg", colour.convert("CMYK"), "JPEG", {}),
        ("turned.jpg", colour, "JPEG", {"exif": turned}),
        ("still.gif", palette, "GIF", {}),
        ("animated.gif", frames[0], "GIF", {"save_all": True, "append_images": frames[1:], "duration": 50}),
        ("rgb.webp", colour, "WEBP", {}),
        ("rgba.webp", colour.convert("RGBA"), "WEBP", {"lossless": True}),
        ("animated.webp", frames[0].convert("RGB"), "WEBP", {"save_all": True, "append_images": [f.convert("RGB") for f in frames[1:]]}),
        ("rgb.bmp", colour, "BMP", {}),
        ("palette.bmp", colour.convert("P"), "BMP", {}),
        ("bilevel.bmp", colour.convert("1"), "BMP", {}),
        ("rgb.tiff", colour, "TIFF", {"compression": "tiff_lzw"}),
        ("cmyk.tiff", colour.convert("CMYK"), "TIFF", {}),
        ("deep.tiff", deep, "TIFF", {}),
        ("float.tiff", deep.convert("F"), "TIFF", {}),
        ("pages.tiff", colour, "TIFF", {"save_all": True, "append_images": [colour.convert("L"), colour]}),
    ]
    files = {}
    for name, picture, format_name, options in seeds:
        buffer = io.BytesIO()
        picture.save(buffer, format=format_name, **options)
        files[name] = buffer.getvalue()
    return files


SEEDS = seed_images()


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    """Apply (kind, where in [0, 1), payload) mutations: flip a bit, insert or overwrite bytes, truncate."""
    data = bytearray(data)
    for kind, where, payload in mutations:
        position = min(int(where * len(data)), max(0, len(data) - 1))
        if kind == "flip" and data:
            data[position] ^= 1 << payload
        elif kind == "insert":
            data[position:position] = payload
        elif kind == "overwrite" and data:
            data[position : position + len(payload)] = payload
        elif kind == "truncate":
            del data[position:]
    return bytes(data)


mutations = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
        st.tuples(st.just("insert"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("overwrite"), st.floats(0, 1, exclude_max=True),
                  st.sampled_from([b"\x00", b"\xff", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00"])
                  | st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.none()),
    ),
    max_size=4,
)
hostile_file = st.tuples(st.sampled_from(sorted(SEEDS)), mutations, st.none() | st.sampled_from(SUFFIXES))


def check_outcome(collection: Collection, files: list[Path], report) -> None:
    """Each file is indexed (an image item under its resolved path) or reported with a one-line reason, not both."""
    reasons = dict(report.problems)
    assert len(reasons) == len(report.problems), "a file was reported twice"
    indexed = 0
    for path in files:
        item = collection.get(str(path.resolve()))
        if str(path) in reasons:
            reason = reasons[str(path)]
            assert isinstance(reason, str) and reason.strip() and "\n" not in reason and len(reason) < 400, reason
            assert "Traceback" not in reason
            assert item is None, f"{path.name} was reported and indexed"
        else:
            assert item is not None and item.kind == "image", f"{path.name}: neither indexed nor reported"
            assert item.metadata["width"] >= 1 and item.metadata["height"] >= 1
            indexed += 1
    assert report.added + report.replaced + report.unchanged == indexed
    assert set(reasons) <= {str(path) for path in files}


@pytest.fixture
def fuzz_collection(tmp_path, clip_encoder):
    with Collection.create(tmp_path / "fuzz.dk", encoder=clip_encoder, space="images") as collection:
        yield collection
    assert check_collection(tmp_path / "fuzz.dk") == []


case_numbers = itertools.count()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases=st.lists(hostile_file, min_size=1, max_size=3))
def test_mutated_images_end_indexed_or_reported(tmp_path, fuzz_collection, cases):
    folder = tmp_path / f"case-{next(case_numbers)}"  # one collection for all examples: fresh ids each time
    folder.mkdir()
    files = []
    for position, (seed, changes, suffix) in enumerate(cases):
        path = folder / f"file{position}{suffix or Path(seed).suffix}"  # suffix None: the true extension
        path.write_bytes(mutate(SEEDS[seed], changes))
        files.append(path)
    with deadline(HANG_SECONDS):
        report = index_images(fuzz_collection, [folder])
    check_outcome(fuzz_collection, files, report)


def test_every_seed_indexes_unmutated(tmp_path, fuzz_collection):
    """The seeds themselves are valid: without this, the fuzz test could pass by refusing everything."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    for name, data in SEEDS.items():
        (folder / name).write_bytes(data)
    with deadline(HANG_SECONDS):
        report = index_images(fuzz_collection, [folder])
    assert report.problems == [] and report.added == len(SEEDS)
    turned = fuzz_collection.get(str((folder / "turned.jpg").resolve())).metadata
    assert (turned["width"], turned["height"]) == (24, 36)  # EXIF orientation 6 applied to a 36 x 24 picture
    modes = {name: fuzz_collection.get(str((folder / name).resolve())).metadata["mode"] for name in SEEDS}
    assert modes["cmyk.jpg"] == "CMYK" and modes["la.png"] == "LA" and modes["palette.png"] == "P"
    assert modes["deep.png"].startswith("I") and modes["deep.tiff"] == "I;16" and modes["float.tiff"] == "F"


# --- hand-made hostile files ---------------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height with almost no pixel data: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def with_declared_size(data: bytes, format_name: str, width: int, height: int) -> bytes:
    """A small valid file of the format with the size fields of its header rewritten."""
    data = bytearray(data)
    if format_name == "GIF":  # logical screen and first image descriptor
        data[6:10] = struct.pack("<HH", width, height)
        descriptor = data.index(b"\x2c")
        data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    elif format_name == "BMP":
        data[18:26] = struct.pack("<ii", width, height)
    elif format_name == "JPEG":
        frame = data.index(b"\xff\xc0")
        data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    elif format_name == "WEBP":  # lossy VP8 frame header: 14-bit sizes
        frame = data.index(b"\x9d\x01\x2a")
        data[frame + 3 : frame + 7] = struct.pack("<HH", width & 0x3FFF, height & 0x3FFF)
    return bytes(data)


def small(format_name: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format=format_name, **options)
    return buffer.getvalue()


def tiff_declaring(width: int, height: int) -> bytes:
    """An uncompressed TIFF whose tags declare width x height and one tiny strip."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 24) + b"\x00" * 16 + ifd


def scan_bomb() -> bytes:
    """A progressive JPEG followed by thousands of empty scans (each costs a pass over every block)."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(
        buffer, format="JPEG", progressive=True
    )
    data = buffer.getvalue()
    end = data.rindex(b"\xff\xd9")
    last = data.rindex(b"\xff\xda")
    header = data[last : last + 2 + int.from_bytes(data[last + 2 : last + 4], "big")]
    return data[:end] + header * 5000 + data[end:]


def frames_file(format_name: str, count: int) -> bytes:
    generator = np.random.default_rng(5)
    frames = [Image.fromarray(generator.integers(0, 256, (4, 4), dtype=np.uint8)).convert("P") for _ in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=format_name, save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def write_hostile_folder(folder: Path) -> dict[str, str | None]:
    """Write the hand-made cases; returns file name (relative) -> a reason fragment, or None for "indexed"."""
    folder.mkdir(parents=True)
    expected: dict[str, str | None] = {}

    def put(name: str, data: bytes, outcome: str | None) -> None:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        expected[name] = outcome

    jpeg, png = small("JPEG"), small("PNG")
    put("zero.jpg", b"", "empty file")
    put("words.png", b"not a picture at all\n" * 20, "not an image")
    put("png-named.jpg", png, None)  # wrong extensions: the decoder decides
    put("jpeg-named.gif", jpeg, None)
    put("icon-named.png", _icon(), "not an image")  # a real image, but not an allowed format
    put("truncated.jpg", SEEDS["rgb.jpg"][: len(SEEDS["rgb.jpg"]) // 2], "truncated")
    put("truncated.png", SEEDS["rgb.png"][: len(SEEDS["rgb.png"]) // 2], "truncated")
    put("header-only.webp", SEEDS["rgb.webp"][:30], "")
    put("bomb.png", png_declaring(60_000, 60_000), "decompression bomb")
    put("over-limit.png", png_declaring(12_000, 12_000), "exceeds the limit")
    put("bomb.gif", with_declared_size(small("GIF"), "GIF", 65_535, 65_535), "decompression bomb")
    put("bomb.bmp", with_declared_size(small("BMP"), "BMP", 50_000, 50_000), "")
    put("bomb.jpg", with_declared_size(jpeg, "JPEG", 65_000, 65_000), "decompression bomb")
    put("bomb.webp", with_declared_size(small("WEBP"), "WEBP", 16_383, 16_383), "decompression bomb")
    put("bomb.tiff", tiff_declaring(100_000, 100_000), "decompression bomb")
    # Within the pixel limit, but a model that scales the short side to its input size would make
    # this 100,000 x 1 PNG of a few hundred bytes into billions of pixels: it must index cheaply.
    put("banner.png", _png_of(Image.new("L", (100_000, 1), 90)), None)
    put("tower.png", _png_of(Image.new("RGB", (1, 60_000), (0, 90, 0))), None)
    put("scan-bomb.jpg", scan_bomb(), "JPEG scans")
    put("many-frames.gif", frames_file("GIF", MAX_COUNTED_FRAMES + 20), None)
    put("many-pages.tiff", frames_file("TIFF", MAX_COUNTED_FRAMES + 20), None)
    put("album.jpg/inside.png", SEEDS["rgba.png"], None)  # a folder named like an image is walked
    put("deep/deeper/cmyk.tiff", SEEDS["cmyk.tiff"], None)
    (folder / "loop-a.jpg").symlink_to(folder / "loop-b.jpg")
    (folder / "loop-b.jpg").symlink_to(folder / "loop-a.jpg")
    expected["loop-a.jpg"] = expected["loop-b.jpg"] = "symbolic link loop"
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    expected["dangling.png"] = "broken symbolic link"
    (folder / "deep" / "up.png").symlink_to(folder, target_is_directory=True)  # a folder loop, named like an image
    (folder / "deep" / "up").symlink_to(folder, target_is_directory=True)
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever
    expected["pipe.jpg"] = "not a regular file"
    return expected


def _png_of(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _icon() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="ICO")
    return buffer.getvalue()


def check_hostile_outcome(folder: Path, expected: dict[str, str | None], report: dict, collection: Collection) -> None:
    reasons = {str(Path(problem["path"]).relative_to(folder)): problem["reason"] for problem in report["problems"]}
    for name, outcome in expected.items():
        if outcome is None:
            item = collection.get(str((folder / name).resolve()))
            assert item is not None and name not in reasons, (name, reasons.get(name))
        else:
            assert name in reasons, f"{name} was not reported (indexed: {collection.get(str((folder / name).resolve())) is not None})"
            assert outcome in reasons[name], (name, reasons[name])
            assert "\n" not in reasons[name] and len(reasons[name]) < 400
    assert set(reasons) == {name for name, outcome in expected.items() if outcome is not None}, reasons
    assert report["added_images"] == sum(1 for outcome in expected.values() if outcome is None)
    for name in ("many-frames.gif", "many-pages.tiff"):
        assert collection.get(str((folder / name).resolve())).metadata["frames"] == MAX_COUNTED_FRAMES
    banner = collection.get(str((folder / "banner.png").resolve())).metadata
    assert (banner["width"], banner["height"]) == (100_000, 1)


def test_hostile_folder_in_process(tmp_path, fuzz_collection):
    folder = tmp_path / "hostile"
    expected = write_hostile_folder(folder)
    with deadline(HANG_SECONDS):
        report = index_images(fuzz_collection, [folder])
    check_hostile_outcome(folder, expected, report.as_dict(), fuzz_collection)
    # Named one by one, the links, the pipe and the folder get the same reasons.
    named = index_images(fuzz_collection, [folder / "loop-a.jpg", folder / "dangling.png", folder / "pipe.jpg", folder / "nope.png"])
    assert [reason for _, reason in named.problems] == [
        "symbolic link loop", "broken symbolic link (its target is missing)",
        "not a regular file (a pipe, socket or device)", "no such file or folder",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_image_is_reported(tmp_path, fuzz_collection):
    path = tmp_path / "secret.png"
    path.write_bytes(SEEDS["rgb.png"])
    path.chmod(0)
    report = index_images(fuzz_collection, [tmp_path])
    assert [(Path(name).name, reason.split(":")[0]) for name, reason in report.problems] == [("secret.png", "cannot read")]


CHILD = r"""
import faulthandler, json, resource, sys
faulthandler.dump_traceback_later(float(sys.argv[4]), exit=True)  # a hang prints where it hung
from densekit.collection import Collection
from densekit.encoders.clip import load_clip_encoder
from densekit.images.indexing import index_images

encoder = load_clip_encoder(sys.argv[1], threads=1)
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with Collection.create(sys.argv[3], encoder=encoder, space="images") as collection:
    index_images(collection, [sys.argv[2] + "/clean"])  # warm: model, thumbnails, collection code paths
    before = peak()
    report = index_images(collection, [sys.argv[2] + "/hostile"])
    after = peak()
print(json.dumps({"before": before, "after": after, "report": report.as_dict()}))
"""


def test_hostile_folder_memory_and_time_are_bounded_in_a_subprocess(tmp_path, tiny_clip_path, photo_files):
    """The user's path in a fresh process: peak RSS grows by less than 250 MiB over a clean run, and no hang."""
    expected = write_hostile_folder(tmp_path / "files" / "hostile")
    clean = tmp_path / "files" / "clean"
    clean.mkdir()
    for path in photo_files.values():
        (clean / path.name).write_bytes(path.read_bytes())
    environment = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny_clip_path), str(tmp_path / "files"), str(tmp_path / "c.dk"), "240"],
        capture_output=True, text=True, timeout=300, env=environment,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    with Collection.open(tmp_path / "c.dk", readonly=True) as collection:
        check_hostile_outcome(tmp_path / "files" / "hostile", expected, result["report"], collection)
    growth = (result["after"] - result["before"]) / 2**20
    assert growth < 250, f"peak RSS grew by {growth:.0f} MiB indexing the hostile folder"


def test_server_upload_of_a_banner_reaches_the_model_cropped(tmp_path, clip_encoder, photo_files, monkeypatch):
    """An uploaded 100,000 x 1 PNG (a few hundred bytes) is searched with, and the model sees at most 32:1."""
    from fastapi.testclient import TestClient

    from densekit.encoders.clip import ClipEncoder
    from densekit.images.loading import MAX_ASPECT_RATIO
    from densekit.server import ServerSettings, create_app

    with Collection.create(tmp_path / "root" / "photos", encoder=clip_encoder, space="images") as photos:
        index_images(photos, [photo_files["astronaut"].parent])
    seen = []
    original = ClipEncoder.preprocess

    def spy(self, pictures):
        seen.extend(picture.size for picture in pictures)
        return original(self, pictures)

    monkeypatch.setattr(ClipEncoder, "preprocess", spy)
    banner = _png_of(Image.new("L", (100_000, 1), 90))
    with TestClient(create_app(ServerSettings(root=tmp_path / "root")), base_url="http://127.0.0.1") as client:
        response = client.post("/collections/photos/images/search", files={"image": ("b.png", banner, "image/png")},
                               data={"k": "2"})
    assert response.status_code == 200, response.text
    assert len(response.json()["hits"]) == 2
    assert seen == [(MAX_ASPECT_RATIO, 1)]
