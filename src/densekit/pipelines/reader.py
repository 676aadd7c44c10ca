"""Extractive reader: find the exact answer span to a question in each of a few passages.

A transformers ``AutoModelForQuestionAnswering`` scores every token as a possible answer start and
end. Long passages are read in overlapping windows (``stride`` tokens shared), so an answer cut by
one window's edge lies whole inside the next. Per window, start and end scores are turned into
probabilities over the passage's tokens plus [CLS] (the "no answer" position); the best span per
passage is the most probable start <= end pair within ``max_answer_length`` tokens, never in the
question or padding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError

DEFAULT_READER = "distilbert-base-cased-distilled-squad"
# Candidate starts and ends examined per window; the best span is almost always among the top few.
_TOP_CANDIDATES = 20
# Words whose trailing period does not end a sentence ("Dr. Watson", "St. Paul").
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st jr sr mt lt col gen capt prof rev sgt vs etc no inc ltd co corp fig vol ft".split()
)


def sentence_ends(text: str) -> list[int]:
    """Character positions of sentence-ending punctuation: '.', '!' or '?' followed by space and a
    capital letter, a digit or a quote, where a period does not close an initial or an abbreviation.

    Example:
        >>> sentence_ends("Dr. J. Smith lives in Paris. It is big.")
        [27]
    """
    ends = []
    for position, character in enumerate(text):
        if character not in ".!?" or position + 2 > len(text) or not text[position + 1].isspace():
            continue
        rest = text[position + 1 :].lstrip()
        if not rest or not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"'“‘("):
            continue
        if character == ".":
            word = text[:position].rsplit(None, 1)[-1] if text[:position].strip() else ""
            word = word.lstrip("\"'(“‘")
            if len(word) == 1 and word.isalpha() or word.lower() in _ABBREVIATIONS or ("." in word and word.replace(".", "").isalpha()):
                continue
        ends.append(position)
    return ends


@dataclass
class Passage:
    """A passage to read: its id, text and (optionally) the retriever's score for it."""

    id: str
    text: str
    retriever_score: float | None = None
    parent: str | None = None
    offset: int | None = None  # where the passage starts in its parent document, for chunks


@dataclass
class Answer:
    """An answer span: ``passage[start:end] == text``.

    ``score`` combines retriever and reader (see ``densekit.pipelines.qa.ask``); ``reader_score`` is
    the span's probability within its passage; ``no_answer_margin`` is the span's logit sum minus the
    [CLS] (no answer) logit sum of the same window.
    """

    text: str
    score: float
    passage_id: str
    start: int
    end: int
    passage: str
    reader_score: float = 0.0
    retriever_score: float | None = None
    no_answer_margin: float = 0.0
    parent: str | None = None
    passages: list[str] = field(default_factory=list)  # every passage that gave this answer

    def as_dict(self) -> dict[str, Any]:
        data = {
            "text": self.text,
            "score": round(float(self.score), 6),
            "passage_id": self.passage_id,
            "start": self.start,
            "end": self.end,
            "passage": self.passage,
            "reader_score": round(float(self.reader_score), 6),
            "retriever_score": None if self.retriever_score is None else round(float(self.retriever_score), 6),
            "no_answer_margin": round(float(self.no_answer_margin), 4),
        }
        if self.parent is not None:
            data["parent"] = self.parent
        if len(self.passages) > 1:
            data["passages"] = self.passages
        return data


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


class Reader:
    """An extractive QA model that reads passages and returns the best answer span in each.

    Args:
        reference: model folder or hub name (``resolve_model``), e.g. a folder saved by
            ``densekit train reader`` or ``distilbert-base-cased-distilled-squad``.
        max_length: tokens per window, question included (default: the model's setting from
            densekit_reader.json, else 384).
        stride: tokens shared by neighbouring windows of a long passage (default: the training
            setting from densekit_reader.json, else 128).
        max_answer_length: longest answer in tokens.
        within_sentence: never return a span that runs across a sentence end ("Paris. It is known
            for the Eiffel Tower"); see ``sentence_ends``.
        batch_size: windows per model call.
        threads: torch threads.

    Example:
        >>> reader = Reader("/tmp/densekit-qa/reader")
        >>> reader.read("What is the capital of France?", ["The capital of France is Paris."])[0].text
        'Paris'
    """

    def __init__(
        self,
        reference: str = DEFAULT_READER,
        *,
        max_length: int | None = None,
        stride: int | None = None,
        max_answer_length: int = 30,
        within_sentence: bool = True,
        batch_size: int = 8,
        threads: int | None = None,
    ):
        from ..encoders.sentence import quiet_transformers
        from ..encoders.threads import configure_torch_threads
        from ..models import resolve_model

        if max_answer_length < 1:
            raise InvalidInputError(f"max_answer_length must be >= 1, got {max_answer_length}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        configure_torch_threads(threads)
        from transformers import AutoModelForQuestionAnswering, AutoTokenizer

        self.reference = reference
        self.folder = resolve_model(reference, role="reader")
        settings = self._settings(self.folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        if not getattr(self.tokenizer, "is_fast", False):
            raise InvalidInputError(f"reader {reference!r} has no fast tokenizer (tokenizer.json); character spans need one")
        with quiet_transformers():
            self.model = AutoModelForQuestionAnswering.from_pretrained(str(self.folder)).eval()
        limit = int(getattr(self.model.config, "max_position_embeddings", 512) or 512)
        self.max_length = min(max_length or settings.get("max_length", 384), limit)
        if stride is None:
            stride = min(int(settings.get("stride", 128)), self.max_length // 4)
        self.stride = stride
        if not 0 <= stride <= self.max_length // 2:
            raise InvalidInputError(f"stride must be between 0 and max_length / 2 ({self.max_length // 2}), got {stride}")
        self.max_answer_length = max_answer_length
        self.within_sentence = within_sentence
        self.batch_size = batch_size

    @staticmethod
    def _settings(folder: Path) -> dict[str, Any]:
        path = Path(folder) / "densekit_reader.json"
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except ValueError:
            return {}

    def _windows(self, question: str, texts: list[str]) -> Any:
        return self.tokenizer(
            [question] * len(texts),
            texts,
            truncation="only_second",
            max_length=self.max_length,
            stride=self.stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=True,
        )

    def _logits(self, encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        import torch

        names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in encoded]
        starts, ends = [], []
        total = len(encoded["input_ids"])
        with torch.inference_mode():
            for first in range(0, total, self.batch_size):
                batch = {name: torch.tensor(encoded[name][first : first + self.batch_size]) for name in names}
                output = self.model(**batch)
                starts.append(output.start_logits.float().numpy())
                ends.append(output.end_logits.float().numpy())
        return np.concatenate(starts), np.concatenate(ends)

    def _best_span(self, start_logits, end_logits, context, null_index, breaks=None) -> tuple[float, float, int, int] | None:
        """(probability, logit sum, first token, last token) of the best span in one window; no span
        holds a token of ``breaks`` (sentence ends) before its last token."""
        allowed = np.concatenate([[null_index], context])
        start_probability = np.zeros_like(start_logits)
        end_probability = np.zeros_like(end_logits)
        start_probability[allowed] = _softmax(start_logits[allowed])
        end_probability[allowed] = _softmax(end_logits[allowed])
        starts = context[np.argsort(-start_logits[context])[:_TOP_CANDIDATES]]
        ends = context[np.argsort(-end_logits[context])[:_TOP_CANDIDATES]]
        best = None
        for first in starts:
            for last in ends:
                if last < first or last - first + 1 > self.max_answer_length:
                    continue
                if breaks is not None and breaks.size and np.any((breaks >= first) & (breaks < last)):
                    continue
                probability = float(start_probability[first] * end_probability[last])
                if best is None or probability > best[0]:
                    best = (probability, float(start_logits[first] + end_logits[last]), int(first), int(last))
        return best

    def read(
        self,
        question: str,
        passages: Sequence[Passage | str],
        *,
        no_answer_threshold: float | None = None,
    ) -> list[Answer | None]:
        """The best answer span in each passage (None where no span qualifies).

        Args:
            question: the question.
            passages: ``Passage`` objects or plain strings (ids "0", "1", ...).
            no_answer_threshold: drop a passage's span unless its logit sum beats the window's
                [CLS] (no answer) logit sum by at least this much; None keeps every best span.

        Returns:
            One entry per passage, in order; ``score`` equals ``reader_score`` (``ask`` recombines).

        Example:
            >>> reader.read("Who wrote Dune?", ["Dune is a novel by Frank Herbert."])[0].text
            'Frank Herbert'
        """
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError(f"question must be a non-empty string, got {question!r}")
        items = [item if isinstance(item, Passage) else Passage(str(position), item) for position, item in enumerate(passages)]
        for position, item in enumerate(items):
            if not isinstance(item.text, str) or not item.text.strip():
                raise InvalidInputError(f"passage {position} ({item.id!r}) has no text; expected a non-empty string")
        if not items:
            return []
        encoded = self._windows(question, [item.text for item in items])
        start_logits, end_logits = self._logits(encoded)
        ends = [np.array(sentence_ends(item.text) if self.within_sentence else [], dtype=np.int64) for item in items]
        best: list[tuple[float, float, float, int, int] | None] = [None] * len(items)
        for window in range(len(encoded["input_ids"])):
            passage = encoded["overflow_to_sample_mapping"][window]
            sequence = encoded.sequence_ids(window)
            context = np.array([i for i, side in enumerate(sequence) if side == 1], dtype=np.int64)
            if context.size == 0:
                continue
            ids = encoded["input_ids"][window]
            cls_id = self.tokenizer.cls_token_id
            null_index = ids.index(cls_id) if cls_id is not None and cls_id in ids else 0
            offsets = encoded["offset_mapping"][window]
            breaks = None
            if ends[passage].size:
                # Context tokens whose characters hold a sentence-ending mark.
                spans = np.array([offsets[i] for i in context], dtype=np.int64).reshape(-1, 2)
                holds = ((ends[passage][None, :] >= spans[:, :1]) & (ends[passage][None, :] < spans[:, 1:])).any(axis=1)
                breaks = context[holds]
            span = self._best_span(start_logits[window], end_logits[window], context, null_index, breaks)
            if span is None:
                continue
            probability, logits, first, last = span
            margin = logits - float(start_logits[window][null_index] + end_logits[window][null_index])
            candidate = (probability, margin, logits, offsets[first][0], offsets[last][1])
            if best[passage] is None or candidate[0] > best[passage][0]:
                best[passage] = candidate
        answers: list[Answer | None] = []
        for item, found in zip(items, best):
            if found is None or (no_answer_threshold is not None and found[1] < no_answer_threshold):
                answers.append(None)
                continue
            probability, margin, _, start, end = found
            answers.append(
                Answer(
                    text=item.text[start:end],
                    score=probability,
                    passage_id=item.id,
                    start=int(start),
                    end=int(end),
                    passage=item.text,
                    reader_score=probability,
                    retriever_score=item.retriever_score,
                    no_answer_margin=margin,
                    parent=item.parent,
                    passages=[item.id],
                )
            )
        return answers
