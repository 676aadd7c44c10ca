"""`densekit demo` (what `make demo` runs): the six ideas of the talk on dense embeddings, in order.

1 sparse vs dense, 2 word vectors, 3 sentence embeddings, 4 question answering, 5 CLIP, 6 a
collection you can search. Each section prints real output from the packaged models and one
"what this shows" line; the sections live in ``densekit.cli.demo``. all-MiniLM-L6-v2 runs
everything but the bees pair, which uses all-mpnet-base-v2 as the talk does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from .output import console


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    collection: Path = typer.Option(Path("demo-collection"), "--collection", help="Where to build the demo collection."),
    per_category: int = typer.Option(8, "--per-category", help="BBC articles per category to index."),
    model: str = typer.Option("all-MiniLM-L6-v2", "--model", "-m", help="Model for every section but the bees pair."),
    bees_model: str = typer.Option("all-mpnet-base-v2", "--bees-model", help="Model for the bees pair (section 3)."),
    plot: Path = typer.Option(Path("demo-days-months.png"), "--plot", help="Where to save the days/months picture."),
    word2vec_epochs: int = typer.Option(3, "--word2vec-epochs", help="Passes of the word2vec training (section 2)."),
    reader: Optional[str] = typer.Option(None, "--reader", help="Reader for section 4 (default: one found on this machine)."),
    clip_model: str = typer.Option("openai/clip-vit-base-patch32", "--clip-model", help="CLIP model for section 5."),
    sections: Optional[List[int]] = typer.Option(None, "--section", "-s", help="Run only these sections (repeatable, 1-6)."),
) -> None:
    """Walk through the talk: sparse vs dense, word vectors, sentence embeddings, QA, CLIP, a collection."""
    from ..errors import InvalidInputError
    from .demo import collection as collection_section, images, questions, sentences, sparse_dense, words
    from .demo.show import DemoSettings, Show

    chosen = sorted(set(sections or range(1, 7)))
    if any(number not in range(1, 7) for number in chosen):
        raise InvalidInputError(f"--section must be between 1 and 6, got {sections}")
    settings = DemoSettings(model=model, bees_model=bees_model, collection=collection, per_category=per_category,
                            plot=plot, word2vec_epochs=word2vec_epochs, reader=reader, clip_model=clip_model)
    runners = {1: sparse_dense.run, 2: words.run, 3: sentences.run, 4: questions.run, 5: images.run,
               6: collection_section.run}
    show = Show(console())
    started = time.perf_counter()
    for number in chosen:
        show.section(number)
        runners[number](show, settings)
    seconds = show.close()
    show.console.rule()
    show.line(f"demo finished in {time.perf_counter() - started:.1f} s ("
              + ", ".join(f"{number}: {value:.1f} s" for number, value in seconds.items()) + ")")
