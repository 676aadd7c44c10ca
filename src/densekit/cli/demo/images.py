"""Section 5: CLIP: pictures and captions in one space (with weights when present)."""

from __future__ import annotations

from typing import Any

from .show import DemoSettings, Show


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from pathlib import Path

    from ...models import model_info

    reference = settings.clip_model
    if not Path(reference).expanduser().exists() and model_info(reference).found_at is None:
        show.line(f"no CLIP weights on this machine ({reference}): on a connected machine "
                  f"`densekit images caption photo.jpg --captions \"a dog\" \"a cat\"` downloads them once, then "
                  f"`densekit images index photos/ ~/Pictures` and `densekit images search photos/ \"a dog\"` work offline.")
        return {"clip": None}
    from ...errors import MissingDependencyError
    from ...images.match import match
    from ...images.tiny import SAMPLE_CAPTIONS, sample_pictures

    try:
        pictures = sample_pictures()  # scikit-image's public-domain sample photos
    except MissingDependencyError as error:
        show.line(f"CLIP weights found, but no pictures to show: {error}")
        return {"clip": reference}
    names = list(SAMPLE_CAPTIONS)
    captions = [SAMPLE_CAPTIONS[name] for name in names]
    result = match([pictures[name] for name in names], captions, model=reference)
    probabilities = result.probabilities()
    rows = [[name, result.captions[best], f"{probabilities[row, best]:.2f}", "yes" if result.captions[best] == SAMPLE_CAPTIONS[name] else "no"]
            for row, (name, best) in enumerate(zip(names, result.best_caption))]
    show.table(f"each picture's best caption among {len(captions)} ({reference})",
               ["picture", "best caption", ">probability", "right"], rows)
    right = sum(row[-1] == "yes" for row in rows)
    show.what(f"one model puts pictures and sentences in the same space: {right} of {len(rows)} pictures pick "
              "their own caption, which is also how text-to-image search works.")
    return {"clip": reference, "right": right, "pictures": len(rows)}
