"""Section 3: sentence embeddings: the bees/mutiny paraphrase against unrelated sentences."""

from __future__ import annotations

from typing import Any

from .show import DemoSettings, Show

BEES = "The bees decided to have a mutiny against their queen"
INSECTS = "Flying stinging insects rebelled in opposition to the matriarch"
UNRELATED = [
    "The stock market closed higher after the central bank's announcement.",
    "She baked a chocolate cake for her grandmother's birthday.",
    "The train to Edinburgh was delayed by forty minutes.",
    "He replaced the battery in his old laptop.",
    "Heavy rain is expected across the north this weekend.",
]


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from ...pipelines.similarity import most_similar

    encoder = settings.encoder(settings.bees_model)
    ranking = most_similar(INSECTS, [*UNRELATED, BEES], encoder=encoder)
    show.table(f"query: {INSECTS}  ({encoder.model_name}, {encoder.backend})", [">cosine", "sentence"],
               [[f"{item.score:.3f}", item.text] for item in ranking])
    bees = next(item.score for item in ranking if item.text == BEES)
    runner_up = max(item.score for item in ranking if item.text != BEES)
    show.what(f"the paraphrase shares no content word with the query, yet ranks first at {bees:.2f}; "
              f"the best unrelated sentence scores {runner_up:.2f}.")
    return {"bees": bees, "runner_up": runner_up, "first": ranking[0].text}
