"""Fixtures for image tests: scikit-image's real pictures saved as files, and a tiny trained CLIP.

No CLIP weights exist on these machines, so the model is built here (``densekit.images.tiny``): real
CLIP architecture, tokenizer and processor, trained for a few seconds on the sample pictures and
their captions, saved with ``save_pretrained`` and loaded back through the same code as a hub model.
The folder is shared by every test module of the session (tests/encoders and tests/cli build it
under the same name if this module did not).
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The file format each sample picture is saved in: every supported format gets a real photo.
SAMPLE_FILES = {
    "astronaut": "astronaut.jpg",
    "coffee": "coffee.png",
    "chelsea": "cats/chelsea.webp",
    "rocket": "rocket.bmp",
    "horse": "horse.gif",
    "camera": "camera.tiff",
}


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory) -> Path:
    from densekit.images.tiny import sample_clip

    return sample_clip(tmp_path_factory.getbasetemp() / "tiny-clip-trained")


@pytest.fixture(scope="session")
def clip_encoder(tiny_clip_path):
    from densekit.encoders.clip import load_clip_encoder

    return load_clip_encoder(str(tiny_clip_path), threads=1)


@pytest.fixture(scope="session")
def sample_pictures():
    from densekit.images.tiny import sample_pictures

    return sample_pictures()


@pytest.fixture
def photo_files(tmp_path, sample_pictures) -> dict[str, Path]:
    """The sample pictures as files of six formats (name -> path), in ``photos/`` with a subfolder."""
    from PIL import Image

    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    files = {}
    for name, relative in SAMPLE_FILES.items():
        files[name] = folder / relative
        Image.fromarray(sample_pictures[name]).save(files[name])
    return files


@pytest.fixture
def photo_folder(photo_files) -> Path:
    return photo_files["astronaut"].parent
