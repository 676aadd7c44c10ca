"""Re-exports of ``densekit.testing.tiny_clip`` (test scaffolding moved out of the product's paths)."""

from ..testing.tiny_clip import (  # noqa: F401
    CLIP_MEAN,
    CLIP_STD,
    MERGE_COUNT,
    SAMPLE_CAPTIONS,
    VOCABULARY_FILE,
    build_tiny_clip,
    build_tokenizer,
    clip_vocabulary,
    find_bpe_vocabulary,
    sample_clip,
    sample_pictures,
)
