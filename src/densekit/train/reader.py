"""Fine-tuning an extractive QA reader: a start/end head over a BERT-style encoder.

Long passages are cut into overlapping windows exactly as the reader reads them at answer time
(``max_length`` tokens, ``stride`` tokens of overlap). A window holding the whole answer is labelled
with its start/end tokens; a window without it is labelled with the [CLS] position, which teaches
the "no answer here" score the reader's threshold uses. Only a share of those empty windows is
kept (``negative_fraction``), so a bounded run spends most steps on real answers.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .loop import run_steps
from .quiet import quiet_loading
from .quoref_split import is_quoref_folder, load_quoref, split_quoref
from .retriever import StepLog, TrainingReport, enable_gradient_checkpointing

READER_FILE = "densekit_reader.json"


@dataclass(frozen=True)
class ReadingExample:
    """A question, its passage and the gold answer's character span in the passage."""

    question: str
    context: str
    answer: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.answer)


def find_answer(context: str, answer: str, start: int | None = None) -> int | None:
    """Character start of ``answer`` in ``context``: the given start if it matches, else the first
    exact occurrence, else the first case-insensitive one; None when absent.

    Example:
        >>> find_answer("The capital of France is Paris.", "paris")
        25
    """
    if not answer:
        return None
    if start is not None and context[start : start + len(answer)] == answer:
        return start
    found = context.find(answer)
    if found < 0:
        found = context.lower().find(answer.lower())
    return found if found >= 0 else None


def _example(question: str, context: str, answers: list[str], start: int | None) -> ReadingExample | None:
    for answer in answers:
        position = find_answer(context, answer, start)
        if position is not None:
            return ReadingExample(question, context, context[position : position + len(answer)], position)
    return None


def load_examples(source: str | Path, split: str = "all", test_fraction: float = 0.2) -> tuple[list[ReadingExample], int]:
    """Read (question, passage, answer) examples and locate each answer in its passage.

    Args:
        source: a Quoref-layout folder, or a .jsonl file of ``{"question", "context", "answers": [...]}``
            (``"passage"`` for ``"context"``, ``"answer"`` for a single answer, optional ``"answer_start"``).
        split: for a Quoref folder: "train", "test" or "all".
        test_fraction: the test side's share of passages.

    Returns:
        (examples, skipped): examples whose answer was found, and how many were not.

    Example:
        >>> examples, skipped = load_examples("../shared/data/quoref", split="train")
    """
    path = Path(source).expanduser()
    rows: list[tuple[str, str, list[str], int | None]] = []
    if is_quoref_folder(path):
        data = split_quoref(load_quoref(path), split, test_fraction)
        rows = [(q["question"], data.passages[q["passage_id"]], list(q["answers"]), None) for q in data.questions]
    elif path.is_file():
        with path.open(encoding="utf-8") as stream:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise InvalidInputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
                record = record if isinstance(record, dict) else {}
                context = record.get("context", record.get("passage"))
                answers = record.get("answers", [record["answer"]] if "answer" in record else None)
                if not (isinstance(record.get("question"), str) and isinstance(context, str) and isinstance(answers, list)
                        and all(isinstance(answer, str) for answer in answers)):
                    raise InvalidInputError(f'{path}:{number}: expected {{"question": str, "context": str, "answers": [str]}}')
                rows.append((record["question"], context, answers, record.get("answer_start")))
    else:
        raise InvalidInputError(f"examples source {str(path)!r} not found; expected a .jsonl file or a Quoref-layout folder")
    examples = [example for example in (_example(*row) for row in rows) if example is not None]
    if not examples:
        raise InvalidInputError(f"{path}: no example whose answer occurs in its passage")
    return examples, len(rows) - len(examples)


def make_features(tokenizer: Any, examples: list[ReadingExample], max_length: int, stride: int) -> list[dict[str, Any]]:
    """Windows of (question, passage) token ids with start/end labels (0, 0 = no answer in the window)."""
    encoded = tokenizer(
        [example.question for example in examples],
        [example.context for example in examples],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    features = []
    for index in range(len(encoded["input_ids"])):
        example = examples[encoded["overflow_to_sample_mapping"][index]]
        sequence = encoded.sequence_ids(index)
        offsets = encoded["offset_mapping"][index]
        context_tokens = [i for i, side in enumerate(sequence) if side == 1]
        start_token = end_token = 0
        if context_tokens and offsets[context_tokens[0]][0] <= example.start and offsets[context_tokens[-1]][1] >= example.end:
            start_token = next(i for i in context_tokens if offsets[i][1] > example.start)
            end_token = next(i for i in reversed(context_tokens) if offsets[i][0] < example.end)
        feature = {key: encoded[key][index] for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded}
        feature.update(start_positions=start_token, end_positions=end_token)
        features.append(feature)
    return features


def train_reader(
    examples: list[ReadingExample],
    base: str,
    out: str | Path,
    *,
    batch_size: int = 16,
    epochs: int = 1,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    learning_rate: float = 5e-5,
    max_length: int = 384,
    stride: int = 128,
    negative_fraction: float = 0.3,
    seed: int = 13,
    threads: int | None = None,
    gradient_checkpointing: bool = True,
    progress: ProgressCallback | None = None,
    log: StepLog | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> TrainingReport:
    """Fine-tune ``AutoModelForQuestionAnswering`` from ``base`` on examples and save it to ``out``.

    Args:
        examples: from ``load_examples``.
        base: a BERT-style model folder or reference (the packaged all-MiniLM-L6-v2 works: its BERT
            weights load and the start/end head is new), or an existing QA model to continue.
        out: folder for the model, tokenizer and densekit_reader.json (loadable by ``Reader``).
        batch_size: windows per step.
        epochs, max_steps, max_minutes: bounds on the run (the model so far is saved).
        learning_rate: AdamW peak rate (linear warm-up over 10% of steps, then linear decay).
        max_length: tokens per window (question + passage); stride: tokens shared by neighbouring windows.
        negative_fraction: share of answer-less windows kept (they teach the no-answer score).
        seed: shuffling seed.
        threads: torch threads.
        gradient_checkpointing: recompute activations in the backward pass instead of keeping them
            (much less memory for 16 windows of 384 tokens, about 20% more time).
        progress: ``progress(step, total_steps)``; log: per-step {"step", "loss", "examples_per_second"}.
        on_interrupt: called at Ctrl-C; training stops after the current step and the model so far
            is saved as usual (the report says ``interrupted``).

    Returns:
        A TrainingReport (examples = windows trained on).

    Example:
        >>> examples, _ = load_examples("../shared/data/quoref", split="train")
        >>> train_reader(examples, "all-MiniLM-L6-v2", "/tmp/reader", max_steps=300)
    """
    from ..encoders.threads import configure_torch_threads
    from ..models import resolve_model

    if not examples:
        raise InvalidInputError("need at least one example to train a reader")
    if not 0 <= stride <= max_length // 2:
        # Windows must move forward by more than they share, and still hold the question.
        raise InvalidInputError(f"stride must be between 0 and max_length / 2 ({max_length // 2}), got {stride}")
    if not 0.0 <= negative_fraction <= 1.0:
        raise InvalidInputError(f"negative_fraction must be between 0 and 1, got {negative_fraction!r}")
    configure_torch_threads(threads)
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    folder = resolve_model(base)
    with quiet_loading():  # no LOAD REPORT for the new start/end head
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForQuestionAnswering.from_pretrained(str(folder))
    features = make_features(tokenizer, examples, max_length, stride)
    features = [f for f in features if f["start_positions"] > 0 or rng.random() < negative_fraction]
    steps_per_epoch = max(1, -(-len(features) // batch_size))
    total = min(max_steps or steps_per_epoch * epochs, steps_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, total // 10), total)
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()

    def epoch_batches():
        order = features[:]
        rng.shuffle(order)
        return (order[start : start + batch_size] for start in range(0, len(order), batch_size))

    def batch_loss(windows):
        batch = tokenizer.pad(windows, return_tensors="pt")
        return model(**batch).loss, int(batch["input_ids"].shape[0])

    result = run_steps(epoch_batches, batch_loss, list(model.parameters()), optimizer, schedule,
                       epochs=epochs, total=total, max_minutes=max_minutes, progress=progress, log=log,
                       on_interrupt=on_interrupt)

    target = Path(out).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    model.eval()
    with quiet_loading():
        model.save_pretrained(str(target))
        tokenizer.save_pretrained(str(target))
    summary = TrainingReport.from_loop(str(target), result)
    (target / READER_FILE).write_text(json.dumps({
        "base": base, "max_length": max_length, "stride": stride,
        "training": {**summary.as_dict(), "batch_size": batch_size, "learning_rate": learning_rate,
                     "reading_examples": len(examples), "windows": len(features), "negative_fraction": negative_fraction, "seed": seed,
                     "gradient_checkpointing": gradient_checkpointing},
    }, indent=2) + "\n", encoding="utf-8")
    return summary
