"""ClipEncoder over a tiny CLIP built at test time (real architecture, tokenizer and processor; no hub weights here)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from densekit.collection import Item
from densekit.encoders.clip import ClipEncoder, load_clip_encoder
from densekit.encoders.factory import BACKENDS, load_encoder
from densekit.errors import InvalidInputError
from densekit.images.loading import ImageLoadError


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    from densekit.images.tiny import sample_clip

    # Same folder name as tests/images' fixture: whichever runs first builds it for the session.
    return sample_clip(tmp_path_factory.getbasetemp() / "tiny-clip-trained")


@pytest.fixture(scope="module")
def clip(clip_path):
    return load_clip_encoder(str(clip_path), threads=1)


@pytest.fixture(scope="module")
def pictures():
    from densekit.images.tiny import sample_pictures

    return sample_pictures()


def test_tokenizer_matches_openai_clip():
    from densekit.images.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    # openai/clip-vit-base-patch32's ids for this sentence (start, a, photo, of, a, cat, end).
    assert tokenizer("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tokenizer) == 49408


def test_info_and_factory_rebuild(clip, clip_path):
    info = clip.info()
    assert (info.kind, info.backend, info.dimension, info.model) == ("image", "clip", 32, str(clip_path))
    assert clip.max_seq_length == 77 and clip.logit_scale > 1
    assert "clip" in BACKENDS
    rebuilt = load_encoder(str(clip_path), backend="clip")
    assert rebuilt is not clip and rebuilt.info() == info  # builders cache nothing (loaded_models.Models does)
    np.testing.assert_allclose(rebuilt.encode_texts(["a cat"]), clip.encode_texts(["a cat"]), atol=1e-6)
    assert isinstance(ClipEncoder(str(clip_path)), ClipEncoder)


def test_texts_are_normalised_batch_invariant_and_truncated(clip):
    texts = ["a photo of a cat", "a cup of coffee", "a rocket on a launch pad", "word " * 200]
    calls = []
    one_batch = clip.encode_texts(texts, progress=lambda done, total: calls.append((done, total)))
    singles = clip.encode_texts(texts, batch_size=1)
    assert one_batch.shape == (4, 32) and one_batch.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(one_batch, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(one_batch, singles, atol=1e-5)  # padding does not change a caption's vector
    np.testing.assert_allclose(clip.encode_queries(texts), one_batch, atol=1e-6)
    np.testing.assert_allclose(clip.encode(texts), one_batch, atol=1e-6)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    with pytest.raises(InvalidInputError, match="single string"):
        clip.encode_texts("a cat")


def test_images_from_paths_pil_and_arrays_agree(clip, pictures, tmp_path):
    path = tmp_path / "coffee.png"
    Image.fromarray(pictures["coffee"]).save(path)
    horse_array = pictures["horse"]
    calls = []
    vectors = clip.encode_images(
        [path, str(path), Image.open(path), pictures["coffee"], horse_array, horse_array > 0, horse_array / 255.0],
        batch_size=3,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert vectors.shape == (7, 32) and calls == [(0, 7), (3, 7), (6, 7), (7, 7)]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    for row in (1, 2, 3):
        np.testing.assert_allclose(vectors[row], vectors[0], atol=1e-5)
    for row in (5, 6):  # the same horse as uint8, bool and float arrays
        np.testing.assert_allclose(vectors[row], vectors[4], atol=1e-5)
    raw = clip.encode_images([path], normalize=False)
    assert abs(np.linalg.norm(raw) - 1.0) > 1e-3


def test_image_errors(clip, tmp_path):
    with pytest.raises(InvalidInputError, match="wrap it in a list"):
        clip.encode_images("photo.jpg")
    with pytest.raises(InvalidInputError, match="image 1 is int"):
        clip.encode_images([np.zeros((8, 8), dtype=np.uint8), 7])
    with pytest.raises(InvalidInputError, match="shape"):
        clip.encode_images([np.zeros((8, 8, 2), dtype=np.uint8)])
    with pytest.raises(InvalidInputError, match="batch_size"):
        clip.encode_images([np.zeros((8, 8), dtype=np.uint8)], batch_size=0)
    with pytest.raises(ImageLoadError, match="no such file"):
        clip.encode_images([tmp_path / "missing.jpg"])


def test_encode_items_reads_files_named_in_metadata(clip, pictures, tmp_path):
    path = tmp_path / "rocket.bmp"
    Image.fromarray(pictures["rocket"]).save(path)
    item = Item(str(path), None, {"path": str(path)}, kind="image")
    np.testing.assert_allclose(clip.encode_items([item]), clip.encode_images([path]), atol=1e-6)
    with pytest.raises(InvalidInputError, match="has no 'path'"):
        clip.encode_items([Item("x", None, {}, kind="image")])


def test_pixel_limit_applies_to_encoder_reads(clip_path, tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    strict = ClipEncoder(str(clip_path), max_pixels=5_000)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        strict.encode_images([path])


def test_preprocess_keeps_only_the_centre_of_a_banner(clip, monkeypatch):
    """A 20,000 x 1 banner would be upscaled to the model's size on its short side (gigabytes
    with real CLIP); preprocess hands the model's processor a 32:1 centre crop instead."""
    from PIL import Image

    from densekit.images.loading import MAX_ASPECT_RATIO

    original = clip.processor.image_processor
    seen = []

    def recording(images, **options):
        seen.extend(picture.size for picture in images)
        return original(images=images, **options)

    monkeypatch.setattr(clip.processor, "image_processor", recording)
    banner = Image.new("RGB", (20_000, 1), (200, 30, 30))
    square = Image.new("RGB", (40, 40), (0, 0, 0))
    pixels = clip.preprocess([banner, square])
    assert seen == [(MAX_ASPECT_RATIO, 1), (40, 40)]
    assert pixels.shape[0] == 2
