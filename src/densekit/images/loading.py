"""Opening image files safely with Pillow: size limits, decoder allow-list, EXIF orientation, RGB.

Every image densekit reads goes through ``load_image``. It reads the file once (so the content hash
and the decoded pixels come from the same bytes), lets only the listed decoders look at it, checks
the pixel count from the header before any pixel is decoded (a decompression bomb is refused, never
loaded), applies the EXIF orientation and returns an RGB picture plus the metadata we store.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DensekitError

#: Pillow format names we decode; anything else is refused before a decoder runs. (The JPEG
#: decoder also opens the multi-picture JPEGs many cameras write; Pillow names those "MPO".)
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff")
#: Refuse images above this many pixels (width x height): about a 10,000 x 10,000 photo.
DEFAULT_MAX_PIXELS = 100_000_000
#: Refuse files above this size before reading them.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

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
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        image = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
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
        rotation), format, mode (as stored), exif_date (ISO 8601 or None), frames.

    Raises:
        ImageLoadError: missing, empty, too large, not an image, an unsupported format, corrupt or
            truncated; the message names the file and the reason.

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
    image = _open(path, data, max_pixels)
    try:
        stored_mode = image.mode
        frames = int(getattr(image, "n_frames", 1) or 1)
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
    except Exception as error:
        raise ImageLoadError(str(path), f"corrupt or truncated image ({type(error).__name__}: {error})") from error
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
        size = path.stat().st_size
        if not path.is_file():
            raise ImageLoadError(str(path), "not a file")
        if size == 0:
            raise ImageLoadError(str(path), "empty file (0 bytes)")
        if size > max_bytes:
            raise ImageLoadError(str(path), f"file is {size:,} bytes; the limit is {max_bytes:,}")
        return path.read_bytes()
    except FileNotFoundError as error:
        raise ImageLoadError(str(path), "no such file") from error
    except OSError as error:
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
        raise ImageLoadError(str(path), f"refused: too many pixels, a possible decompression bomb ({error})") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(
            str(path), f"not an image, or not one of the supported formats ({', '.join(FORMATS)})"
        ) from error
    except Exception as error:  # a damaged header can raise nearly anything inside a plugin
        raise ImageLoadError(str(path), f"corrupt image header ({type(error).__name__}: {error})") from error
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


def _transpose(image: Any) -> Any:
    from PIL import ImageOps

    # exif_transpose returns a new upright image (or a copy) when the Orientation tag asks for it.
    upright = ImageOps.exif_transpose(image)
    return upright if upright is not None else image
