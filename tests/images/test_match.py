"""match(): the image-by-caption score matrix, checked against CLIPModel's own logits; a real-model check."""

from __future__ import annotations

import numpy as np
import pytest

from densekit.errors import InvalidInputError, ModelNotFoundError
from densekit.images.match import match
from densekit.images.tiny import SAMPLE_CAPTIONS

REAL_MODEL = "openai/clip-vit-base-patch32"
CAPTIONS = ["a photo of an astronaut", "a cup of coffee", "a photo of a cat", "a rocket on a launch pad"]


def model_logits(encoder, pictures, captions):
    """CLIPModel's own forward pass on the processor's joint inputs: the reference numbers."""
    import torch

    inputs = encoder.processor(
        text=captions, images=pictures, padding=True, truncation=True, max_length=77, return_tensors="pt"
    )
    with torch.inference_mode():
        output = encoder.model(**inputs)
    return output.logits_per_image.numpy(), output.logits_per_text.numpy()


def test_scores_equal_clip_models_own_logits(clip_encoder, photo_files, sample_pictures):
    from PIL import Image

    names = list(SAMPLE_CAPTIONS)
    captions = [SAMPLE_CAPTIONS[name] for name in names] + ["a dog hiding behind a tree, " * 20]  # > 77 tokens
    paths = [photo_files[name] for name in names]
    # Mixed inputs: a path, PIL images and arrays; batch size 2 splits both sides into batches.
    images = [paths[0]] + [Image.open(path).convert("RGB") for path in paths[1:3]] + [sample_pictures[name] for name in names[3:]]
    result = match(images, captions, model=clip_encoder, batch_size=2)

    from densekit.images.loading import load_image

    pictures = [load_image(path).image for path in paths]
    per_image, per_text = model_logits(clip_encoder, pictures, captions)
    np.testing.assert_allclose(result.logits_per_image, per_image, atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(result.logits_per_text, per_text, atol=1e-4, rtol=1e-5)
    assert result.best_caption == [int(index) for index in per_image.argmax(axis=1)]
    assert result.best_image == [int(index) for index in per_text.argmax(axis=1)]
    # The tiny model was trained on these pairs, so each picture's own caption wins, and back.
    assert result.best_caption == list(range(len(names)))
    assert result.best_image[: len(names)] == list(range(len(names)))
    assert result.logit_scale == pytest.approx(clip_encoder.logit_scale)
    np.testing.assert_allclose(result.probabilities().sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(result.cosines, result.scores / result.logit_scale)
    assert result.images[0] == str(paths[0]) and result.images[1] == "image 1"


def test_as_dict_and_validation(clip_encoder, photo_files):
    result = match([photo_files["coffee"]], ["a cup of coffee", "a rocket on a launch pad"], model=clip_encoder)
    data = result.as_dict()
    assert data["images"][0]["best_caption"] == "a cup of coffee"
    assert [row["caption"] for row in data["images"][0]["scores"]] == ["a cup of coffee", "a rocket on a launch pad"]
    assert data["best_image_per_caption"][1]["image"] == str(photo_files["coffee"])
    with pytest.raises(InvalidInputError, match="at least one caption"):
        match([photo_files["coffee"]], [], model=clip_encoder)
    with pytest.raises(InvalidInputError, match="non-empty list of images"):
        match([], ["a cat"], model=clip_encoder)
    with pytest.raises(InvalidInputError, match="non-empty list of images"):
        match(str(photo_files["coffee"]), ["a cat"], model=clip_encoder)
    with pytest.raises(InvalidInputError, match="item 1 is an empty string"):
        match([photo_files["coffee"]], ["a cat", " "], model=clip_encoder)


def real_clip_or_skip():
    from densekit.encoders.clip import load_clip_encoder
    from densekit.models import resolve_model

    try:
        resolve_model(REAL_MODEL)  # offline: HF_HUB_OFFLINE is set for the test session
    except ModelNotFoundError:
        pytest.skip(f"{REAL_MODEL} is not available locally (no CLIP weights ship in any package)")
    return load_clip_encoder(REAL_MODEL, threads=1)


@pytest.mark.slow
def test_real_clip_captions_the_sample_pictures(photo_files):
    encoder = real_clip_or_skip()
    names = ["astronaut", "coffee", "chelsea", "rocket"]
    result = match([photo_files[name] for name in names], CAPTIONS, model=encoder)
    assert result.best_caption == [0, 1, 2, 3]
    assert result.best_image == [0, 1, 2, 3]
