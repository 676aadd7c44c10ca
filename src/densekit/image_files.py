"""Opening image files safely with Pillow: size limits, decoder allow-list, EXIF orientation, RGB.

Every image densekit reads goes through ``load_image``. It reads the file once (so the content hash
and the decoded pixels come from the same bytes), lets only the listed decoders look at it, checks
the pixel count from the header before any pixel is decoded (a decompression bomb is refused, never
loaded), applies the EXIF orientation and returns an RGB picture plus the metadata we store.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DensekitError

#: Pillow format names we decode; anything else is refused before a decoder runs. (The JPEG
#: decoder also opens the multi-picture JPEGs many cameras write; Pillow names those "MPO".)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff")
#: Refuse images above this many pixels (width x height): about a 10,000 x 10,000 photo.
DEFAULT_MAX_PIXELS = 100_000_000
#: Refuse files above this size before reading them.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
#: Frames counted for the "frames" metadata. Counting walks the file (and Pillow's TIFF page walk
#: grows with the square of the pages: 20,000 one-pixel pages took 6 s), so the count stops here.
MAX_COUNTED_FRAMES = 1000
#: Refuse JPEGs with more scans (SOS markers). Each scan of a progressive JPEG costs a pass over
#: every block, so a file of a few MB made of empty scans decodes for hours (a "scan bomb");
#: real progressive files have about 10. libjpeg-turbo suggests a limit of this order.
MAX_JPEG_SCANS = 500
#: The longest side the model sees is at most this many times the shortest (``model_view``).
MAX_ASPECT_RATIO = 32

# EXIF tags: the Exif sub-IFD pointer, DateTimeOriginal (in it), DateTime (in IFD0).
_EXIF_IFD = 0x8769
_DATE_TIME_ORIGINAL = 0x9003
_DATE_TIME = 0x0132


class ImageLoadError(DensekitError):
    """A file that is not a readable image within the limits; the message says why."""

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass
class LoadedImage:
    """A decoded RGB picture, the hash of its file bytes, and the metadata densekit stores."""

    image: Any  # PIL.Image.Image in mode RGB, already turned upright
    sha256: str
    metadata: dict[str, Any]


def _exif_date(exif: Any) -> str | None:
    """DateTimeOriginal (else DateTime) as ISO 8601 'YYYY-MM-DDTHH:MM:SS', or None."""
    values = []
    try:
        values.append(exif.get_ifd(_EXIF_IFD).get(_DATE_TIME_ORIGINAL))
    except Exception:  # a broken Exif sub-IFD must not cost us the picture
        pass
    values.append(exif.get(_DATE_TIME))
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("ascii", "ignore")
        if not isinstance(value, str):
            continue
        value = value.strip().rstrip("\x00")
        # EXIF writes "2021:07:04 12:30:00"; cameras without a clock write zeros or blanks.
        if len(value) >= 19 and value[4] == ":" and value[7] == ":" and not value.startswith("0000"):
            return f"{value[0:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}"
    return None


def to_rgb(image: Any) -> Any:
    """Convert any Pillow mode to RGB: transparency is laid on white, 16-bit/float greys are rescaled.

    Example:
        >>> to_rgb(Image.new("RGBA", (4, 4))).mode
        'RGB'
    """
    from PIL import Image

    if image.mode == "RGB":
        return image
    if image.mode == "P":
        # Palette images may carry transparency in the palette; expand it to an alpha channel first.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        import numpy as np

        # A 65,536-entry table maps each 16-bit value straight to 8 bits: no float copy of a
        # picture that may have 100 million pixels (a 2 KB damaged TIFF can declare that many).
        values = np.asarray(image)
        low, high = int(values.min()), int(values.max())
        levels = np.arange(65536, dtype=np.float64) - low
        levels *= 255.0 / (high - low) if high > low else 0.0
        table = np.clip(np.rint(levels), 0, 255).astype(np.uint8)
        image = Image.fromarray(table[values], mode="L")
        del values
    elif image.mode in ("I", "F"):
        import numpy as np

        # float32 and in place: one array the size of the picture, not several.
        values = np.array(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        values -= low
        values *= 255.0 / (high - low) if high > low else 0.0
        np.rint(values, out=values)
        image = Image.fromarray(values.astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "RGBa", "La", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def load_image(
    source: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadedImage:
    """Open one image file safely and return it upright, in RGB, with its metadata.

    Args:
        source: the image file.
        max_pixels: refuse images whose header declares more pixels (checked before decoding).
        max_bytes: refuse larger files before reading them.

    Returns:
        LoadedImage with metadata: path (resolved), file, bytes, width, height (after EXIF
        rotation), format, mode (as stored), exif_date (ISO 8601 or None), frames (counted up
        to MAX_COUNTED_FRAMES).

    Raises:
        ImageLoadError: missing, empty, not a regular file, too large, not an image, an unsupported
            format, a decompression bomb, a JPEG with too many scans, corrupt or truncated; the
            message names the file and the reason (one line).

    Example:
        >>> loaded = load_image("photos/cat.jpg")
        >>> loaded.metadata["width"], loaded.image.mode
        (451, 'RGB')
    """
    path = Path(source).expanduser()
    return decode_image(path, read_image_file(path, max_bytes=max_bytes), max_pixels=max_pixels)


def decode_image(source: str | Path, data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an image file's bytes (already read) as ``load_image`` does; ``source`` names it in metadata and errors.

    Indexing reads the bytes first to compare the content hash, and decodes only changed files.
    """
    path = Path(source).expanduser()
    with warnings.catch_warnings():
        # Damaged files make Pillow warn ("Corrupt EXIF data", "Truncated File Read"); the outcome
        # (decoded, or an ImageLoadError with the reason) is what we report, not the warnings.
        warnings.simplefilter("ignore")
        image = _open(path, data, max_pixels)
        try:
            stored_mode = image.mode
            frames = _frame_count(image)
            try:
                exif = image.getexif()
            except Exception:  # unreadable EXIF is common in edited files; the pixels may still be fine
                exif = None
            image.load()  # decode now: a truncated or corrupt body fails here, inside our try
            upright = _transpose(image)
            rgb = to_rgb(upright)
            if rgb is image:
                rgb = image.copy()  # detach from the file buffer so the caller owns plain pixels
        except ImageLoadError:
            raise
        except MemoryError as error:
            raise ImageLoadError(str(path), "not enough memory to decode this image") from error
        except Exception as error:
            raise ImageLoadError(str(path), f"corrupt or truncated image ({_describe(error)})") from error
        finally:
            image.close()
    metadata = {
        "path": str(path.resolve()),
        "file": path.name,
        "bytes": len(data),
        "width": rgb.width,
        "height": rgb.height,
        "format": image.format,
        "mode": stored_mode,
        "exif_date": _exif_date(exif) if exif is not None else None,
        "frames": frames,
    }
    return LoadedImage(rgb, hashlib.sha256(data).hexdigest(), metadata)


def read_image_file(source: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A file's bytes, refusing missing, empty, non-regular and oversized files with ImageLoadError."""
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            raise ImageLoadError(str(path), "not a file")
        # Opened without blocking and checked on the open descriptor: a pipe that replaced the
        # file after it was found would otherwise block open() or read() forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise ImageLoadError(str(path), "not a regular file (a pipe, socket or device)")
            if status.st_size == 0:
                raise ImageLoadError(str(path), "empty file (0 bytes)")
            if status.st_size > max_bytes:
                raise ImageLoadError(str(path), f"file is {status.st_size:,} bytes; the limit is {max_bytes:,}")
            data = handle.read(max_bytes + 1)  # the file may have grown since fstat
        if len(data) > max_bytes:
            raise ImageLoadError(str(path), f"file is over the limit of {max_bytes:,} bytes")
        return data
    except FileNotFoundError as error:
        reason = "broken symbolic link (its target is missing)" if path.is_symlink() else "no such file"
        raise ImageLoadError(str(path), reason) from error
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImageLoadError(str(path), "symbolic link loop") from error
        raise ImageLoadError(str(path), f"cannot read: {error.strerror or error}") from error


def _open(path: Path, data: bytes, max_pixels: int) -> Any:
    """Identify the format and read the header only; refuse bombs before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check uses a process-wide limit; ours (per call) is applied below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as error:
        raise ImageLoadError(str(path), f"refused: too many pixels, a possible decompression bomb ({_describe(error)})") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(
            str(path), f"not an image, or not one of the supported formats ({', '.join(FORMATS)})"
        ) from error
    except Exception as error:  # a damaged header can raise nearly anything inside a plugin
        raise ImageLoadError(str(path), f"corrupt image header ({_describe(error)})") from error
    if image.format in ("JPEG", "MPO"):
        # Counting the SOS marker bytes over-counts only where they occur inside metadata; the
        # entropy-coded data escapes every 0xFF, so each true scan is counted.
        scans = data.count(b"\xff\xda")
        if scans > MAX_JPEG_SCANS:
            image.close()
            raise ImageLoadError(
                str(path), f"refused: {scans:,} JPEG scans exceed the limit of {MAX_JPEG_SCANS} (decoding would take very long)"
            )
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageLoadError(
            str(path),
            f"refused: {width} x {height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(a possible decompression bomb); raise max_pixels only for files you trust",
        )
    if width < 1 or height < 1:
        image.close()
        raise ImageLoadError(str(path), f"image has no pixels ({width} x {height})")
    return image


def _describe(error: BaseException) -> str:
    """'Type: message' on one line and at most 200 characters: reasons are printed one per file."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= 200 else text[:199] + "…"


def _frame_count(image: Any) -> int:
    """Frames (pages) in the file, counted up to MAX_COUNTED_FRAMES; the first frame stays selected."""
    if not getattr(image, "is_animated", False):  # reads at most the next frame's header
        return 1
    if image.format != "TIFF":
        # GIF walks frame headers without decoding; WebP, PNG and MPO read the count from a header.
        return min(int(image.n_frames), MAX_COUNTED_FRAMES)
    count = 1
    try:
        while count < MAX_COUNTED_FRAMES:
            image.seek(count)  # TIFF: parses the next page's tags, decodes nothing
            count += 1
    except EOFError:
        pass
    image.seek(0)
    return count


def model_view(image: Any, max_ratio: int = MAX_ASPECT_RATIO) -> Any:
    """The picture as a model should see it: very elongated pictures keep only their centre.

    CLIP-style preprocessing scales the shortest side to the model's size (224) and keeps the
    central square, so a 100,000 x 1 banner (a few hundred bytes as PNG) would first be scaled to
    224 x 22,400,000 pixels: tens of GB. Cropping the long side to ``max_ratio`` times the short
    one keeps everything such a model looks at and bounds that memory; pictures within the ratio
    are returned unchanged (the same object).

    Example:
        >>> model_view(Image.new("RGB", (100_000, 1))).size
        (32, 1)
    """
    width, height = image.size
    short = min(width, height)
    if max(width, height) <= max_ratio * short:
        return image
    long = max_ratio * short
    if width > height:
        left = (width - long) // 2
        return image.crop((left, 0, left + long, height))
    top = (height - long) // 2
    return image.crop((0, top, width, top + long))


def _transpose(image: Any) -> Any:
    from PIL import ImageOps

    # In place: without in_place, exif_transpose copies even a picture that needs no turning,
    # one more full-size copy of what may be a 100-megapixel image.
    ImageOps.exif_transpose(image, in_place=True)
    return image
