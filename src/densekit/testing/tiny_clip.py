"""A tiny CLIP built on this machine, for tests, demos and benchmarks where no CLIP weights exist.

The model has CLIP's real architecture (``CLIPConfig`` with small towers), CLIP's real tokenizer
(the BPE vocabulary shipped in the ``open-clip-torch`` wheel, 49,408 tokens) and a real
``CLIPImageProcessor``; it is saved with ``save_pretrained`` so it loads through exactly the code a
downloaded ``openai/clip-vit-base-patch32`` takes. Optionally it is trained for a few seconds on
given (picture, caption) pairs, so that those captions find those pictures.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from ..errors import InvalidInputError, MissingDependencyError

VOCABULARY_FILE = "bpe_simple_vocab_16e6.txt.gz"
# CLIP's tokenizer keeps the first 48,894 merges of the file (49152 - 256 - 2), as open_clip does.
MERGE_COUNT = 49152 - 256 - 2
# The mean and standard deviation CLIP's image processor normalises with.
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def find_bpe_vocabulary() -> Path:
    """The CLIP BPE merges file from the installed ``open-clip-torch`` wheel (not imported, only located).

    Raises:
        MissingDependencyError: open-clip-torch is not installed (``pip install --no-deps open-clip-torch``).
    """
    from importlib import metadata

    try:
        distribution = metadata.distribution("open_clip_torch")
    except metadata.PackageNotFoundError as error:
        raise MissingDependencyError("open-clip-torch", "building a CLIP tokenizer offline") from error
    entry = next((file for file in distribution.files or () if file.name == VOCABULARY_FILE), None)
    location = Path(distribution.locate_file(entry)) if entry is not None else None
    if location is None or not location.is_file():
        raise MissingDependencyError("open-clip-torch", f"building a CLIP tokenizer offline ({VOCABULARY_FILE} missing)")
    return location


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    characters = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            characters.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in characters)))


@lru_cache(maxsize=1)
def clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary (token -> id, 49,408 entries) and BPE merges, derived from the wheel's file."""
    lines = gzip.open(find_bpe_vocabulary(), "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : MERGE_COUNT + 1]]
    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [symbol + "</w>" for symbol in symbols] + ["".join(merge) for merge in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def build_tokenizer() -> Any:
    """A ``CLIPTokenizer`` equal to openai/clip-vit-base-patch32's, built from the open-clip-torch vocabulary.

    Example:
        >>> build_tokenizer()("a photo of a cat")["input_ids"]
        [49406, 320, 1125, 539, 320, 2368, 49407]
    """
    from transformers import CLIPTokenizer

    vocabulary, merges = clip_vocabulary()
    return CLIPTokenizer(vocab=dict(vocabulary), merges=list(merges), model_max_length=77)


def build_tiny_clip(
    folder: str | Path,
    *,
    pairs: Sequence[tuple[Any, str]] = (),
    steps: int = 60,
    image_size: int = 32,
    width: int = 32,
    layers: int = 2,
    projection: int = 32,
    seed: int = 0,
) -> Path:
    """Save a small CLIP (model + processor) to ``folder``; ``CLIPModel.from_pretrained(folder)`` loads it.

    Args:
        folder: where to save (created).
        pairs: (PIL image, caption) pairs to train on contrastively, so each caption finds its image.
        steps: optimiser steps when ``pairs`` is given.
        image_size: the vision tower's input side (the processor resizes and crops to it).
        width, layers: hidden size and depth of both towers.
        projection: dimension of the shared space.
        seed: torch seed, for the same weights on every run.

    Returns:
        The folder.

    Example:
        >>> ClipEncoder(str(build_tiny_clip("tiny-clip"))).dimension
        32
    """
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    from ..encoders.clip import quiet_transformers

    with quiet_transformers():  # naming CLIPImageProcessor without torchvision logs a notice
        from transformers import CLIPImageProcessor

    if image_size % 8:
        raise InvalidInputError(f"image_size must be a multiple of the patch size 8, got {image_size}")
    tokenizer = build_tokenizer()
    towers = dict(hidden_size=width, intermediate_size=width * 2, num_hidden_layers=layers, num_attention_heads=2)
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **towers,
        ),
        vision_config=dict(image_size=image_size, patch_size=8, **towers),
        projection_dim=projection,
    )
    with quiet_transformers():
        image_processor = CLIPImageProcessor(
            size={"shortest_edge": image_size},
            crop_size={"height": image_size, "width": image_size},
            image_mean=CLIP_MEAN,
            image_std=CLIP_STD,
        )
        processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    torch.manual_seed(seed)
    model = CLIPModel(config)
    if pairs:
        _train(model, processor, pairs, steps)
    model.eval()
    model.text_model.embeddings.token_embedding.weight.requires_grad_(True)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():  # no "Writing model shards" bar
        model.save_pretrained(str(folder))
        processor.save_pretrained(str(folder))
    return folder


def _train(model: Any, processor: Any, pairs: Sequence[tuple[Any, str]], steps: int) -> None:
    """Contrastive training on the pairs (CLIP's own loss), so captions and pictures line up."""
    import torch

    from ..encoders.clip import to_pil

    pictures = [to_pil(picture, position) for position, (picture, _) in enumerate(pairs)]
    captions = [caption for _, caption in pairs]
    inputs = processor(text=captions, images=pictures, padding=True, return_tensors="pt")
    # The 49,408-row token table stays random: updating it dominates a step's cost, and the
    # layers above it learn the few captions just as well (the loss reaches ~0 in 60 steps).
    model.text_model.embeddings.token_embedding.weight.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = model(**inputs, return_loss=True).loss
        loss.backward()
        optimizer.step()


#: scikit-image's sample pictures and a caption for each (the tiny model is trained on these pairs).
SAMPLE_CAPTIONS = {
    "astronaut": "a photo of an astronaut",
    "coffee": "a cup of coffee",
    "chelsea": "a photo of a cat",
    "rocket": "a rocket on a launch pad",
    "horse": "a black horse silhouette",
    "camera": "a man with a camera on a tripod",
}


def sample_pictures() -> dict[str, Any]:
    """scikit-image's real sample pictures named in ``SAMPLE_CAPTIONS``, as uint8 numpy arrays.

    Raises:
        MissingDependencyError: scikit-image is not installed.

    Example:
        >>> sample_pictures()["coffee"].shape
        (400, 600, 3)
    """
    try:
        import skimage.data
    except ImportError as error:
        raise MissingDependencyError("scikit-image", "the sample pictures") from error
    import numpy as np

    pictures = {}
    for name in SAMPLE_CAPTIONS:
        array = getattr(skimage.data, name)()
        pictures[name] = array.astype(np.uint8) * 255 if array.dtype == bool else array
    return pictures


def sample_clip(folder: str | Path) -> Path:
    """A tiny CLIP trained on the sample pictures and ``SAMPLE_CAPTIONS``, built into ``folder`` unless already there.

    Example:
        >>> clip = ClipEncoder(str(sample_clip("/tmp/tiny-clip")))
        >>> clip.encode_texts(["a cup of coffee"]).shape
        (1, 32)
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        pictures = sample_pictures()
        build_tiny_clip(folder, pairs=[(pictures[name], caption) for name, caption in SAMPLE_CAPTIONS.items()])
    return folder
