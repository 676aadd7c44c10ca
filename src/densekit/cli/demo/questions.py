"""Section 4: question answering: what a symmetric model retrieves, and a reader's answers.

The contexts include a copy of each question. A symmetric sentence model scores how alike two
texts are, and nothing is more alike a question than the question itself, so the copy ranks
first; DPR-style training gives questions and passages their own encoders so that the passage
holding the answer wins (docs/qa.md). A reader then extracts the answer span.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...missing_models import TRAINED_READER, TRAINED_RETRIEVER
from .show import DemoSettings, Show

QUESTIONS = [
    ("What is the capital city of Australia?", "Canberra",
     "Canberra is the capital city of Australia. It was chosen as a compromise between Sydney and Melbourne."),
    ("Who wrote the science fiction novel Dune?", "Frank Herbert",
     "Dune is a 1965 epic science fiction novel by the American author Frank Herbert."),
    ("Who founded Google?", "Larry Page and Sergey Brin",
     "Google was founded in 1998 by Larry Page and Sergey Brin while they were students at Stanford University."),
]
DISTRACTORS = [
    "Sydney is the largest city in Australia and home to the Sydney Opera House.",
    "The Hobbit is a fantasy novel by the English author J. R. R. Tolkien.",
    "Apple was founded by Steve Jobs, Steve Wozniak and Ronald Wayne in 1976.",
]


def contexts() -> list[tuple[str, str]]:
    """(label, text): each answer passage, each question's copy, and distractors."""
    labelled = [("answer", passage) for _, _, passage in QUESTIONS]
    labelled += [("copy of the question", question) for question, _, _ in QUESTIONS]
    labelled += [("unrelated", text) for text in DISTRACTORS]
    return labelled


def find_reader(explicit: str | None) -> str | None:
    """A reader on this machine, never downloading: --reader, DENSEKIT_READER, the one docs/qa.md
    trains into the densekit cache, or distilbert-base-cased-distilled-squad already cached."""
    from ... import config
    from ...models import model_info
    from ...pipelines.reader import DEFAULT_READER

    for reference in (explicit, os.environ.get("DENSEKIT_READER"), str(config.home() / "models" / TRAINED_READER),
                      DEFAULT_READER):
        if reference and (Path(reference).expanduser().exists() or model_info(reference).found_at is not None):
            return reference
    return None


def run(show: Show, settings: DemoSettings) -> dict[str, Any]:
    from ...pipelines.similarity import most_similar

    encoder = settings.encoder(settings.model)
    labelled = contexts()
    texts = [text for _, text in labelled]
    label_of = dict((text, label) for label, text in labelled)
    figures: dict[str, Any] = {"copy_first": 0, "retrieved": {}}
    rows = []
    for question, _, passage in QUESTIONS:
        ranking = most_similar(question, texts, encoder=encoder)
        figures["retrieved"][question] = [label_of[item.text] for item in ranking[:3]]
        figures["copy_first"] += label_of[ranking[0].text] == "copy of the question"
        answer_rank = next(rank for rank, item in enumerate(ranking, start=1) if item.text == passage)
        rows.append([question, f"{ranking[0].score:.3f} {label_of[ranking[0].text]}",
                     f"{ranking[1].score:.3f} {label_of[ranking[1].text]}", str(answer_rank)])
    show.table(f"retrieval with the symmetric {encoder.model_name} over {len(texts)} passages "
               "(3 answers, 3 copies of the questions, 3 unrelated)",
               ["question", ">1st", ">2nd", ">answer's rank"], rows)
    show.line(f"the copy of the question ranks first for {figures['copy_first']} of {len(QUESTIONS)} questions: "
              "a symmetric model scores likeness, and nothing is more like a question than itself.")
    figures.update(_trained_retriever(show, texts, label_of))
    figures.update(_read(show, settings, texts, encoder))
    show.what("retrieval by likeness finds the question, not the answer; DPR trains a question encoder and a "
              "passage encoder apart so the answer wins, and a reader then picks the span.")
    return figures


def _trained_retriever(show: Show, texts: list[str], label_of: dict[str, str]) -> dict[str, Any]:
    """The DPR-style retriever docs/qa.md trains, when it is in the densekit cache."""
    from ... import config

    folder = config.home() / "models" / TRAINED_RETRIEVER
    if not folder.is_dir():
        return {}
    from ...encoders.factory import load_encoder

    retriever = load_encoder(str(folder), backend="st-dual")
    passages = retriever.encode(texts)
    questions = retriever.encode_queries([question for question, _, _ in QUESTIONS])
    firsts = [label_of[texts[int((passages @ vector).argmax())]] for vector in questions]
    show.line(f"the retriever trained here ({folder}) ranks first: {', '.join(firsts)}")
    return {"trained_retriever_first": firsts}


def _read(show: Show, settings: DemoSettings, texts: list[str], encoder) -> dict[str, Any]:
    from ...pipelines.similarity import most_similar

    reference = find_reader(settings.reader)
    if reference is None:
        from ...missing_models import how_to_fix
        from ...pipelines.reader import DEFAULT_READER

        show.line(f"no reader on this machine: {how_to_fix(DEFAULT_READER, 'reader')}")
        return {"reader": None}
    from ...pipelines.reader import Reader

    reader = Reader(reference)
    answers = {}
    rows = []
    for question, expected, _ in QUESTIONS:
        passages = [item.text for item in most_similar(question, texts, encoder=encoder, k=3)]
        found = [answer for answer in reader.read(question, passages) if answer is not None]
        best = max(found, key=lambda answer: answer.reader_score, default=None)
        answers[question] = best.text if best else None
        rows.append([question, best.text if best else "(no answer)", f"{best.reader_score:.2f}" if best else "-", expected])
    show.line(f"reader {reference} over the top 3 passages:")
    show.table("", ["question", "answer", ">reader score", "expected"], rows)
    return {"reader": reference, "answers": answers}
