"""Images and text in one space: safe loading, thumbnails, indexing folders, matching captions.

Heavy libraries (torch, transformers) load only when an encoder is built or used.
"""

from .indexing import ImageIndexReport, discover_images, image_space, index_images
from .loading import ImageLoadError, LoadedImage, load_image
from .match import MatchResult, match
from .thumbnails import prune_thumbnails, thumbnail_path, write_thumbnail

__all__ = [
    "ImageIndexReport",
    "ImageLoadError",
    "LoadedImage",
    "MatchResult",
    "discover_images",
    "image_space",
    "index_images",
    "load_image",
    "match",
    "prune_thumbnails",
    "thumbnail_path",
    "write_thumbnail",
]
