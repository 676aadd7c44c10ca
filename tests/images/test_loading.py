"""Safe image loading: formats, EXIF orientation and dates, mode conversion, bad files, decompression bombs."""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from densekit.images.loading import ImageLoadError, load_image, to_rgb

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def split_picture(width: int = 40, height: int = 20) -> Image.Image:
    """Left half red, right half blue: orientation is visible in the pixels."""
    picture = Image.new("RGB", (width, height), BLUE)
    picture.paste(RED, (0, 0, width // 2, height))
    return picture


@pytest.mark.parametrize(
    "suffix, format_name",
    [(".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"), (".bmp", "BMP"), (".tiff", "TIFF"), (".gif", "GIF")],
)
def test_each_supported_format_loads_as_rgb_with_metadata(tmp_path, suffix, format_name):
    path = tmp_path / f"picture{suffix}"
    split_picture().save(path, format=format_name)
    loaded = load_image(path)
    assert loaded.image.mode == "RGB" and loaded.image.size == (40, 20)
    meta = loaded.metadata
    assert meta["format"] == format_name and (meta["width"], meta["height"]) == (40, 20)
    assert meta["path"] == str(path.resolve()) and meta["file"] == path.name
    assert meta["bytes"] == path.stat().st_size
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # Colour survives (loosely for lossy JPEG/WebP): left is red, right is blue.
    left, right = loaded.image.getpixel((5, 10)), loaded.image.getpixel((35, 10))
    assert left[0] > 200 and left[2] < 60 and right[2] > 200 and right[0] < 60


def test_animated_gif_uses_first_frame(tmp_path):
    path = tmp_path / "animated.gif"
    frames = [Image.new("RGB", (16, 16), GREEN), Image.new("RGB", (16, 16), RED)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = load_image(path)
    assert loaded.metadata["frames"] == 2
    assert loaded.image.getpixel((8, 8))[1] > 200 and loaded.image.getpixel((8, 8))[0] < 60


def exif_with(orientation: int | None = None, original: str | None = None, plain: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if plain is not None:
        exif[0x0132] = plain
    if original is not None:
        exif.get_ifd(0x8769)[0x9003] = original
    return exif


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6: the camera was turned; viewers rotate 90 degrees clockwise to show it upright.
    path = tmp_path / "turned.jpg"
    split_picture(40, 20).save(path, exif=exif_with(orientation=6), quality=95)
    loaded = load_image(path)
    assert loaded.image.size == (20, 40)
    assert (loaded.metadata["width"], loaded.metadata["height"]) == (20, 40)
    top, bottom = loaded.image.getpixel((10, 5)), loaded.image.getpixel((10, 35))
    assert top[0] > 200 and bottom[2] > 200  # the red left half is now on top


def test_exif_date_prefers_original_and_falls_back_to_datetime(tmp_path):
    first, second, third = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "c.jpg"
    split_picture().save(first, exif=exif_with(original="2021:07:04 12:30:00", plain="2022:01:01 00:00:00"))
    split_picture().save(second, exif=exif_with(plain="2019:12:31 23:59:58"))
    split_picture().save(third, exif=exif_with(plain="0000:00:00 00:00:00"))
    assert load_image(first).metadata["exif_date"] == "2021-07-04T12:30:00"
    assert load_image(second).metadata["exif_date"] == "2019-12-31T23:59:58"
    assert load_image(third).metadata["exif_date"] is None


def test_modes_are_converted_to_rgb():
    transparent = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert to_rgb(transparent).getpixel((0, 0)) == (255, 255, 255)  # laid on white
    assert to_rgb(Image.new("LA", (4, 4), (0, 255))).getpixel((0, 0)) == (0, 0, 0)
    assert to_rgb(Image.new("L", (4, 4), 128)).getpixel((0, 0)) == (128, 128, 128)
    assert to_rgb(Image.new("1", (4, 4), 1)).getpixel((0, 0)) == (255, 255, 255)
    assert to_rgb(Image.new("CMYK", (4, 4), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([10, 20, 30] + [0] * 765)
    assert to_rgb(palette).getpixel((0, 0)) == (10, 20, 30)
    palette.info["transparency"] = 0
    assert to_rgb(palette).getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16))
    converted = to_rgb(deep)
    assert converted.getpixel((0, 0)) == (0, 0, 0) and converted.getpixel((1, 1)) == (255, 255, 255)


def test_rgba_palette_and_16_bit_files_load(tmp_path):
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (8, 8), (0, 0, 255, 0)).save(rgba)
    deep = tmp_path / "deep.tiff"
    Image.fromarray((np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)).save(deep)
    assert load_image(rgba).image.getpixel((1, 1)) == (255, 255, 255)
    assert load_image(rgba).metadata["mode"] == "RGBA"
    loaded = load_image(deep)
    assert loaded.image.mode == "RGB" and loaded.image.getpixel((7, 7)) == (255, 255, 255)


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.jpg", b"", "empty file"),
        ("notes.png", b"these are words, not pixels\n" * 10, "not an image"),
        ("noise.jpg", bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "not an image"),
        ("header-only.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "not an image"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert reason in caught.value.reason and caught.value.path == str(path)


def test_truncated_and_missing_files(tmp_path):
    whole = tmp_path / "whole.jpg"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(truncated)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(ImageLoadError, match="not a file"):
        load_image(tmp_path)


def test_unlisted_formats_are_refused(tmp_path):
    path = tmp_path / "icon.ico"
    Image.new("RGB", (16, 16), RED).save(path, format="ICO")
    with pytest.raises(ImageLoadError, match="supported formats"):
        load_image(path)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height but whose pixel data is a few bytes: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height", [(12_000, 12_000), (60_000, 60_000)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path, width, height):
    # 144 Mpx is over densekit's 100 Mpx limit but under Pillow's own refusal; 3.6 Gpx is over both.
    # The pixel data is truncated, so a refusal that names pixels proves nothing was decoded.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(width, height))
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert "refused" in caught.value.reason and "decompression bomb" in caught.value.reason
    assert Image.MAX_IMAGE_PIXELS == before  # the limit is per call, never set globally


def test_pixel_limit_is_per_call(tmp_path):
    path = tmp_path / "small.png"
    split_picture(40, 20).save(path)
    with pytest.raises(ImageLoadError, match="800 pixels exceeds the limit of 799"):
        load_image(path, max_pixels=799)
    assert load_image(path, max_pixels=800).image.size == (40, 20)
    with pytest.raises(ImageLoadError, match="limit is 10"):
        load_image(path, max_bytes=10)
