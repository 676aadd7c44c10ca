"""Contrastive training of a DPR-style retriever: a question tower and a context tower, one space.

Exactly DPR's recipe: each question's positive passage is scored against every other passage in
the batch (in-batch negatives), optionally plus one BM25 hard negative per question, and a
cross-entropy loss pulls the positive up. Both towers start from the same packaged
sentence-transformers encoder (all-MiniLM-L6-v2 or all-mpnet-base-v2) and are trained separately,
so questions and passages get their own encoders. Scores are scaled cosine similarities (as in
sentence-transformers' MultipleNegativesRankingLoss), which is stable from a sentence-model start.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .loop import LoopResult, run_steps
from .quiet import quiet_loading
from .quoref_split import is_quoref_folder, load_quoref, split_quoref

#: "question": the question's own text as a negative passage, so a passage that merely restates the
#: question (FAQ headings, forum titles) scores below one that answers it.
HARD_NEGATIVES = ("none", "bm25", "question", "bm25+question")


@dataclass(frozen=True)
class Pair:
    """A question, its positive passage and optional hard negative passages."""

    question: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass
class TrainingReport:
    """What a training run did; ``examples_per_second`` counts training examples (pairs or windows)."""

    out: str
    steps: int
    examples: int
    seconds: float
    examples_per_second: float
    final_loss: float
    skipped: int = 0
    interrupted: bool = False  # Ctrl-C: the model after the last whole step was saved

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_loop(cls, out: str, result: LoopResult) -> "TrainingReport":
        speed = result.examples / max(result.seconds, 1e-9)
        return cls(out, result.steps, result.examples, round(result.seconds, 2), round(speed, 3), round(result.recent_loss, 4),
                   interrupted=result.interrupted)


#: Called after each optimisation step with {"step", "loss", "examples_per_second"}.
StepLog = Callable[[dict[str, Any]], None]


def load_pairs(source: str | Path, split: str = "all", test_fraction: float = 0.2) -> list[Pair]:
    """Read (question, positive passage) pairs.

    Args:
        source: a Quoref-layout folder, or a .jsonl file of ``{"question", "positive"}`` objects
            (``"passage"`` is accepted for ``"positive"``; ``"negatives"``: optional list of passages).
        split: for a Quoref folder, "train", "test" or "all" (split by passage, see quoref_split).
        test_fraction: the test side's share of passages.

    Example:
        >>> len(load_pairs("../shared/data/quoref", split="train")) > 2000
        True
    """
    path = Path(source).expanduser()
    if is_quoref_folder(path):
        data = split_quoref(load_quoref(path), split, test_fraction)
        return [Pair(question["question"], data.passages[question["passage_id"]]) for question in data.questions]
    if not path.is_file():
        raise InvalidInputError(f"pairs source {str(path)!r} not found; expected a .jsonl file or a Quoref-layout folder")
    pairs = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            positive = record.get("positive", record.get("passage")) if isinstance(record, dict) else None
            question = record.get("question") if isinstance(record, dict) else None
            negatives = record.get("negatives", []) if isinstance(record, dict) else []
            if not (isinstance(question, str) and question.strip() and isinstance(positive, str) and positive.strip()):
                raise InvalidInputError(f'{path}:{number}: expected {{"question": str, "positive": str}}')
            if not isinstance(negatives, list) or not all(isinstance(text, str) for text in negatives):
                raise InvalidInputError(f'{path}:{number}: "negatives" must be a list of strings')
            pairs.append(Pair(question, positive, tuple(negatives)))
    if not pairs:
        raise InvalidInputError(f"{path}: no pairs found")
    return pairs


def add_bm25_negatives(pairs: list[Pair], depth: int = 10) -> list[Pair]:
    """Give each pair its highest-ranked BM25 passage that is not its positive (DPR's hard negative)."""
    import numpy as np

    from ..sparse import SparseIndex

    passages = sorted({pair.positive for pair in pairs} | {text for pair in pairs for text in pair.negatives})
    index = SparseIndex(stem=False)
    index.build(np.arange(len(passages), dtype=np.int64), passages)
    enriched = []
    for pair in pairs:
        _, ids = index.search(pair.question, depth)
        negative = next((passages[int(i)] for i in np.ravel(ids) if i >= 0 and passages[int(i)] != pair.positive), None)
        extra = (negative,) if negative is not None and negative not in pair.negatives else ()
        enriched.append(Pair(pair.question, pair.positive, pair.negatives + extra))
    return enriched


def add_question_negatives(pairs: list[Pair]) -> list[Pair]:
    """Give each pair its own question text as a hard negative passage (unless it is the positive)."""
    return [
        Pair(pair.question, pair.positive, pair.negatives + ((pair.question,) if pair.question != pair.positive else ()))
        for pair in pairs
    ]


def _batches(pairs: list[Pair], batch_size: int, rng: random.Random) -> list[list[Pair]]:
    order = pairs[:]
    rng.shuffle(order)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size) if len(order[start : start + batch_size]) > 1]


def load_tower(folder: Path) -> Any:
    """A sentence-transformers model on the CPU: one tower of the retriever being trained."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass for every transformer inside ``model``.

    Without it the passage tower keeps each layer's attention maps for 16 x 256 tokens until the
    backward pass: most of the training run's peak memory.
    """
    for module in model.modules():
        if not getattr(module, "supports_gradient_checkpointing", False):
            continue
        config = getattr(module, "config", None)
        if getattr(config, "use_cache", None):
            # Caching keys and values is for generation; with checkpointing transformers turns it off
            # itself and says so on stderr ("use_cache=True is incompatible ...") at every step.
            config.use_cache = False
        if hasattr(module, "activation_checkpointing_enable"):  # transformers >= 5.x's name for it
            module.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        elif hasattr(module, "gradient_checkpointing_enable"):
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def _embed(model: Any, texts: list[str]) -> Any:
    # preprocess() is tokenize()'s newer name in sentence-transformers.
    features = (getattr(model, "preprocess", None) or model.tokenize)(texts)
    return model(dict(features))["sentence_embedding"]


def train_retriever(
    pairs: list[Pair],
    base: str,
    out: str | Path,
    *,
    batch_size: int = 16,
    epochs: int = 1,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    learning_rate: float = 2e-5,
    scale: float = 20.0,
    hard_negatives: str = "none",
    max_question_length: int = 64,
    max_passage_length: int = 256,
    seed: int = 13,
    threads: int | None = None,
    gradient_checkpointing: bool = True,
    progress: ProgressCallback | None = None,
    log: StepLog | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> TrainingReport:
    """Train a question/context encoder pair with in-batch negatives and save it as a retriever folder.

    Args:
        pairs: (question, positive[, negatives]) pairs, e.g. from ``load_pairs``.
        base: sentence-transformers model both towers start from (all-MiniLM-L6-v2, all-mpnet-base-v2, a path),
            or a saved st-dual retriever folder to continue training.
        out: folder to write: question_encoder/, context_encoder/, densekit_retriever.json.
        batch_size: pairs per step; every other passage in the batch is a negative.
        epochs: passes over the pairs (bounded by ``max_steps`` / ``max_minutes``).
        max_steps: stop after this many steps (also sets the learning-rate schedule's length).
        max_minutes: stop after this much wall time (the model so far is saved).
        learning_rate: AdamW peak rate, linear warm-up over 10% of steps then linear decay.
        scale: multiplies cosine similarities before the softmax.
        hard_negatives: "none", "bm25" (one BM25 passage per question that is not its positive),
            "question" (the question's own text) or "bm25+question".
        max_question_length, max_passage_length: token limits of the two towers.
        seed: shuffling and initialisation seed.
        threads: torch threads.
        gradient_checkpointing: recompute each layer's activations in the backward pass instead of
            keeping them: MiniLM at batch 16 peaked at 1.9 GB instead of 3.1 GB, same losses, ~20%
            slower (benchmarks/train_memory.py).
        progress: ``progress(step, total_steps)``.
        log: called after each step with {"step", "loss", "examples_per_second"}.
        on_interrupt: called at Ctrl-C; training stops after the current step and the model so far
            is saved as usual (the report says ``interrupted``).

    Returns:
        A TrainingReport.

    Example:
        >>> train_retriever(load_pairs("../shared/data/quoref", "train"), "all-MiniLM-L6-v2", "/tmp/retriever", max_steps=200)
    """
    from ..encoders.dual import CONTEXT_FOLDER, QUESTION_FOLDER, read_retriever_config, write_retriever_config
    from ..encoders.threads import configure_torch_threads
    from ..models import resolve_model

    if hard_negatives not in HARD_NEGATIVES:
        raise InvalidInputError(f"unknown hard_negatives {hard_negatives!r}; valid: {', '.join(HARD_NEGATIVES)}")
    if batch_size < 2:
        raise InvalidInputError(f"batch_size must be >= 2 (in-batch negatives need company), got {batch_size}")
    if len(pairs) < 2:
        raise InvalidInputError(f"need at least 2 pairs to train, got {len(pairs)}")
    configure_torch_threads(threads)
    import torch
    import torch.nn.functional as functional
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    if "bm25" in hard_negatives:
        pairs = add_bm25_negatives(pairs)
    if "question" in hard_negatives:
        pairs = add_question_negatives(pairs)
    folder = resolve_model(base)
    config = read_retriever_config(folder)
    with quiet_loading():
        if config is not None and config["kind"] == "st-dual" and not config.get("shared"):
            # Continue training a saved retriever: each tower from its own folder.
            question_model = load_tower(folder / QUESTION_FOLDER)
            context_model = load_tower(folder / CONTEXT_FOLDER)
        else:
            question_model = load_tower(folder)
            context_model = load_tower(folder)
    question_model.max_seq_length = max_question_length
    context_model.max_seq_length = max_passage_length
    if gradient_checkpointing:
        enable_gradient_checkpointing(question_model)
        enable_gradient_checkpointing(context_model)
    question_model.train()
    context_model.train()

    steps_per_epoch = math.ceil(len(pairs) / batch_size)
    total = min(max_steps or steps_per_epoch * epochs, steps_per_epoch * epochs)
    parameters = list(question_model.parameters()) + list(context_model.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, total // 10), total)

    def batch_loss(batch):
        passages = list(dict.fromkeys([pair.positive for pair in batch] + [n for pair in batch for n in pair.negatives]))
        position = {text: index for index, text in enumerate(passages)}
        labels = torch.tensor([position[pair.positive] for pair in batch])
        questions = functional.normalize(_embed(question_model, [pair.question for pair in batch]), dim=-1)
        contexts = functional.normalize(_embed(context_model, passages), dim=-1)
        return functional.cross_entropy(scale * questions @ contexts.T, labels), len(batch)

    result = run_steps(lambda: _batches(pairs, batch_size, rng), batch_loss, parameters, optimizer, schedule,
                       epochs=epochs, total=total, max_minutes=max_minutes, progress=progress, log=log,
                       on_interrupt=on_interrupt)

    target = Path(out).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    question_model.eval()
    context_model.eval()
    with quiet_loading():
        question_model.save(str(target / QUESTION_FOLDER))
        context_model.save(str(target / CONTEXT_FOLDER))
    summary = TrainingReport.from_loop(str(target), result)
    write_retriever_config(target, {
        "kind": "st-dual",
        "normalize": True,
        "base": base,
        "max_question_length": max_question_length,
        "max_passage_length": max_passage_length,
        "training": {**summary.as_dict(), "batch_size": batch_size, "learning_rate": learning_rate, "scale": scale,
                     "hard_negatives": hard_negatives, "pairs": len(pairs), "seed": seed,
                     "gradient_checkpointing": gradient_checkpointing},
    })
    return summary
