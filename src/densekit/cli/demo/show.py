"""Printing for the demo: numbered section headers, tables, and the one-line "what this shows"."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TALK_SECTIONS = {
    1: "sparse vs dense vectors",
    2: "word vectors: word2vec and GloVe",
    3: "sentence embeddings",
    4: "question answering: retriever and reader",
    5: "images and text together: CLIP",
    6: "a vector database: a collection you can search",
}


@dataclass
class DemoSettings:
    """Everything a section may need; the command fills it from its options."""

    model: str = "all-MiniLM-L6-v2"
    bees_model: str = "all-mpnet-base-v2"
    collection: Path = Path("demo-collection")
    per_category: int = 8
    plot: Path = Path("demo-days-months.png")
    word2vec_epochs: int = 3
    reader: str | None = None
    clip_model: str = "openai/clip-vit-base-patch32"
    encoders: dict[str, Any] = field(default_factory=dict)  # loaded once, shared by sections

    def encoder(self, reference: str):
        """The text encoder for ``reference`` on the library's default backend, loaded once."""
        if reference not in self.encoders:
            from ...encoders.factory import load_encoder
            from ..store_options import prepare_encoder

            prepare_encoder(reference, None)  # a bar while a first use exports the model to ONNX
            self.encoders[reference] = load_encoder(reference, backend=None)
        return self.encoders[reference]


class Show:
    """Writes the demo to a rich console; records each section's seconds."""

    def __init__(self, console):
        self.console = console
        self.seconds: dict[int, float] = {}
        self._started: tuple[int, float] | None = None

    def section(self, number: int) -> None:
        self._finish()
        self.console.rule(f"[bold]{number}. {TALK_SECTIONS[number]}[/]")
        self._started = (number, time.perf_counter())

    def _finish(self) -> None:
        if self._started is not None:
            number, started = self._started
            self.seconds[number] = time.perf_counter() - started
            self._started = None

    def line(self, text: str = "") -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def heading(self, text: str) -> None:
        self.console.print(f"[bold]{text}[/]", highlight=False, soft_wrap=True)

    def table(self, title: str, columns: list[str], rows: list[list[str]]) -> None:
        """A table; a column name starting with '>' is right-aligned (numbers)."""
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column.lstrip(">"), justify="right" if column.startswith(">") else "left")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def what(self, text: str) -> None:
        self.console.print(f"[green]what this shows:[/] {text}", highlight=False, soft_wrap=True)

    def close(self) -> dict[int, float]:
        self._finish()
        return self.seconds
