"""Re-exports of ``densekit.word_vectors`` (word-vector loading moved below the encoders, which use it)."""

from ...word_vectors import (  # noqa: F401
    FORMATS,
    GLOVE_6B_50D,
    PACKAGED_NAMES,
    detect_format,
    from_arrays,
    load_packaged_glove,
    load_vectors,
    save_vectors,
    set_counts,
    word_counts,
    zipf_counts,
)
