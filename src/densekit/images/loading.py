"""Re-exports of ``densekit.image_files`` (image decoding moved below the encoders, which use it)."""

from ..image_files import (  # noqa: F401
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    FORMATS,
    MAX_ASPECT_RATIO,
    MAX_COUNTED_FRAMES,
    MAX_JPEG_SCANS,
    SUFFIXES,
    ImageLoadError,
    LoadedImage,
    decode_image,
    load_image,
    model_view,
    read_image_file,
    to_rgb,
)
