"""CLIP: a text tower and an image tower that write into one normalised vector space.

Loads any folder (or hub name) that transformers' ``CLIPModel`` + ``CLIPProcessor`` read, through
``models.resolve_model``; the default is ``openai/clip-vit-base-patch32``. Images get the model's own
preprocessing (resize, centre crop, normalise) from its processor; files are opened with densekit's
safe loader. As a collection encoder it is an *image* encoder: the collection calls
``encode_items`` for image items and ``encode_queries`` (the text tower) for text queries.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..models import canonical_reference, resolve_model
from ..progress import ProgressCallback, report
from .base import Encoder, EncoderInfo, l2_normalize
from .threads import configure_torch_threads

DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"



@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Library code never prints: silence transformers' progress bars and notices for a while.

    The notices include "CLIPImageProcessor requires torchvision ... falling back to
    CLIPImageProcessorPil": without torchvision the PIL processor (same resize, crop, normalise) runs.
    """
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if was_enabled:
            transformers_logging.enable_progress_bar()


def _load(path: Path) -> tuple[Any, Any]:
    from transformers import CLIPModel, CLIPProcessor

    with quiet_transformers():
        model = CLIPModel.from_pretrained(str(path))
        processor = CLIPProcessor.from_pretrained(str(path))
    model.eval()
    return model, processor


def _pooled(output: Any) -> Any:
    """Projected features: transformers 5 returns an output object (pooler_output), 4.x a tensor."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def to_pil(image: Any, position: int = 0) -> Any:
    """An RGB PIL image from a PIL image or a numpy array (H x W, H x W x 3/4; uint8, bool or float in [0, 1])."""
    from PIL import Image

    from ..image_files import to_rgb

    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        elif array.dtype.kind == "f":
            array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
            raise InvalidInputError(
                f"image {position} is an array of shape {array.shape} and dtype {image.dtype}; "
                "expected H x W or H x W x 3/4 of uint8, bool or float in [0, 1]"
            )
        return to_rgb(Image.fromarray(array))
    raise InvalidInputError(
        f"image {position} is {type(image).__name__}; expected a file path, a PIL image or a numpy array"
    )


class ClipEncoder(Encoder):
    """Encode texts and images into CLIP's shared, L2-normalised space.

    Args:
        reference: a CLIP model folder or hub name (default ``openai/clip-vit-base-patch32``).
        threads: torch intra-op threads (default: ``threads.default_threads()``, applied once).
        model, processor: an already loaded ``CLIPModel`` / ``CLIPProcessor`` to wrap instead.
        max_pixels: image files above this pixel count are refused (decompression bombs).

    Example:
        >>> clip = ClipEncoder("openai/clip-vit-base-patch32")
        >>> images = clip.encode_images(["cat.jpg"])
        >>> texts = clip.encode_texts(["a photo of a cat", "a rocket"])
        >>> (images @ texts.T).argmax()
        0
    """

    backend = "clip"
    accepts = frozenset({"text", "image"})
    default_batch_size = 32

    def __init__(
        self,
        reference: str = DEFAULT_CLIP_MODEL,
        threads: int | None = None,
        model: Any = None,
        processor: Any = None,
        max_pixels: int | None = None,
    ):
        from ..image_files import DEFAULT_MAX_PIXELS

        configure_torch_threads(threads)
        self.model_name = canonical_reference(reference)
        self.path: Path | None = None
        if model is None or processor is None:
            self.path = resolve_model(reference, role="clip")
            model, processor = _load(self.path)
        self.model = model
        self.processor = processor
        self.dimension = int(model.config.projection_dim)
        self.max_seq_length = int(model.config.text_config.max_position_embeddings)
        self.max_pixels = max_pixels or DEFAULT_MAX_PIXELS

    # --- description -------------------------------------------------------------------------
    def info(self) -> EncoderInfo:
        # kind "image": in a collection this space indexes image items; text reaches it as queries.
        return EncoderInfo(model=self.model_name, dimension=self.dimension, backend=self.backend, kind="image")

    @property
    def logit_scale(self) -> float:
        """The learned temperature: CLIP's logits are ``logit_scale * cosine``."""
        return float(self.model.logit_scale.exp().item())

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # --- text tower --------------------------------------------------------------------------
    def encode_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        # Longer captions are cut at the model's 77 tokens, as CLIP itself was trained.
        inputs = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="pt"
        )
        with torch.inference_mode():
            features = _pooled(
                self.model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            )
        return features.float().numpy()

    def encode_texts(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Encode texts with the text tower into an (n, dimension) float32 array (L2-normalised by default).

        Example:
            >>> clip.encode_texts(["a dog hiding behind a tree"]).shape
            (1, 512)
        """
        return self.encode(texts, batch_size=batch_size, progress=progress, normalize=normalize)

    def encode_queries(
        self, texts: Sequence[str], batch_size: int | None = None, progress: ProgressCallback | None = None
    ) -> np.ndarray:
        """Text queries against an image space: the text tower (used by ``collection.search``)."""
        return self.encode_texts(texts, batch_size=batch_size, progress=progress)

    # --- image tower -------------------------------------------------------------------------
    def encode_images(
        self,
        images: Sequence[Any],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Encode images with the image tower into an (n, dimension) float32 array, in input order.

        Args:
            images: file paths (opened with the safe loader, a batch at a time), PIL images or
                numpy arrays; all are converted to RGB.
            batch_size: images per model call (default 32).
            progress: called as ``progress(done, total)`` after each batch.
            normalize: L2-normalise each row (cosine similarity = inner product).

        Raises:
            ImageLoadError: a path that is not a readable image within the pixel limit.

        Example:
            >>> clip.encode_images(["photos/cat.jpg", Image.open("dog.png")]).shape
            (2, 512)
        """
        if isinstance(images, (str, Path)) or not isinstance(images, Sequence):
            raise InvalidInputError(
                f"expected a list of images (paths, PIL images or arrays), got {type(images).__name__}; wrap it in a list"
            )
        size = self.default_batch_size if batch_size is None else batch_size
        if size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {size}")
        import torch

        items = list(images)
        output = np.zeros((len(items), self.dimension), dtype=np.float32)
        report(progress, 0, len(items))
        for start in range(0, len(items), size):
            # Each picture is decoded, preprocessed and dropped at once: a batch holds model-sized
            # tensors, never a batch of full-resolution photos.
            pixels = [
                self.preprocess([self._picture(image, start + offset)])
                for offset, image in enumerate(items[start : start + size])
            ]
            output[start : start + len(pixels)] = self.encode_pixels(torch.cat(pixels), normalize=False)
            report(progress, start + len(pixels), len(items))
        return l2_normalize(output) if normalize else output

    def preprocess(self, pictures: list[Any]) -> Any:
        """The model's own preprocessing (resize, centre crop, normalise): RGB PIL images -> pixel tensor.

        Example:
            >>> clip.preprocess([Image.open("cat.jpg").convert("RGB")]).shape
            torch.Size([1, 3, 224, 224])
        """
        from ..image_files import model_view

        # Every caller (index, search by image, re-encoding a space) gets the same bound: a very
        # elongated picture would otherwise be upscaled to tens of GB before the centre crop.
        pictures = [model_view(picture) for picture in pictures]
        return self.processor.image_processor(images=pictures, return_tensors="pt")["pixel_values"]

    def encode_pixels(self, pixel_values: Any, normalize: bool = True) -> np.ndarray:
        """Image-tower vectors for preprocessed pixels (as ``preprocess`` makes), one model call.

        Example:
            >>> clip.encode_pixels(clip.preprocess([picture])).shape
            (1, 512)
        """
        import torch

        with torch.inference_mode():
            features = _pooled(self.model.get_image_features(pixel_values=pixel_values))
        vectors = features.float().numpy()
        return l2_normalize(vectors) if normalize else vectors

    def encode_items(
        self,
        items: Sequence[Any],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Encode a collection's image items (each with ``id`` and ``metadata["path"]``, as
        ``collection.items.Item``), reading each from the file its metadata names.

        Example:
            >>> clip.encode_items([Item("a.jpg", None, {"path": "/photos/a.jpg"}, kind="image")]).shape
            (1, 512)
        """
        paths = []
        for item in items:
            path = (item.metadata or {}).get("path")
            if not isinstance(path, str) or not path:
                raise InvalidInputError(f"image item {item.id!r} has no 'path' in its metadata; expected the image file's path")
            paths.append(path)
        return self.encode_images(paths, batch_size=batch_size, progress=progress)

    def _picture(self, image: Any, position: int) -> Any:
        if isinstance(image, (str, Path)):
            from ..image_files import load_image

            return load_image(image, max_pixels=self.max_pixels).image
        return to_pil(image, position)


def load_clip_encoder(reference: str | None = None, threads: int | None = None) -> ClipEncoder:
    """A new ClipEncoder (the ``clip`` backend's builder; None: openai/clip-vit-base-patch32).

    Nothing is cached here: one shared copy per process is ``loaded_models.Models``' job.

    Example:
        >>> load_clip_encoder("openai/clip-vit-base-patch32").dimension
        512
    """
    reference = reference or DEFAULT_CLIP_MODEL
    path = resolve_model(reference, role="clip")
    model, processor = _load(path)
    encoder = ClipEncoder(reference, threads=threads, model=model, processor=processor)
    encoder.path = path
    return encoder
