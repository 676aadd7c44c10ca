"""Section 1: sparse (word counts) vs dense (sentence encoder) on the talk's two examples."""

from __future__ import annotations

from typing import Any

from .show import DemoSettings, Show

SWAPPED = ["Bill ran from the giraffe towards the dolphin", "Bill ran from the dolphin towards the giraffe"]
GREETINGS = ["hi", "hello", "hey"]


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from ...pipelines.compare import compare_many

    encoder = settings.encoder(settings.model)
    swapped = compare_many(SWAPPED, encoder).pairs[0]
    greetings = compare_many(GREETINGS, encoder)
    show.line(f"densekit compare ... --model {settings.model}")
    rows = [[pair.text_a, pair.text_b, f"{pair.bag_of_words:.3f}", f"{pair.dense:.3f}"]
            for pair in [swapped, *greetings.pairs]]
    show.table("word counts (sparse) vs sentence vectors (dense)", ["text A", "text B", ">word counts", ">dense"], rows)
    dense = [pair.dense for pair in greetings.pairs]
    show.what(
        f"word counts call the swapped sentences identical ({swapped.bag_of_words:.3f}) and the greetings unrelated "
        f"({max(pair.bag_of_words for pair in greetings.pairs):.3f}); the dense vectors notice the swap "
        f"({swapped.dense:.3f}) and put the greetings close ({min(dense):.2f}-{max(dense):.2f})."
    )
    return {"swapped_words": swapped.bag_of_words, "swapped_dense": swapped.dense,
            "greetings_words": [pair.bag_of_words for pair in greetings.pairs], "greetings_dense": dense}
