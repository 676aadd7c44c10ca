"""Fine-tuning a cross-encoder reranker: a question and a passage read together, one relevance score.

The examples are what a reranker meets behind densekit's search: for each question, the chunk that
holds its answer (chunked as ``densekit index`` chunks, ``chunking.default_chunk_tokens``) against
hard negatives, the chunks of other passages that BM25 ranks highest for the question; for STS-B
paraphrases (``eval.datasets.paraphrase_task``), the reworded sentence against the sentences that
share the most words with the query. The loss is a softmax cross-entropy over each question's group
(positive first, then its negatives): the listwise loss of cross-encoder rerankers trained on hard
negatives, which teaches the order within the group rather than an absolute threshold.

The model starts from a packaged sentence encoder (all-MiniLM-L6-v2: its BERT layers load, a
one-output head is new) and is saved as a Hugging Face sequence-classification model that
``rerank.CrossEncoderReranker`` (``--rerank FOLDER``) loads offline.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .loop import run_steps
from .quiet import quiet_loading
from .quoref_split import load_quoref, split_quoref
from .retriever import StepLog, TrainingReport, enable_gradient_checkpointing

RERANKER_FILE = "densekit_reranker.json"
#: Chunks BM25 returns per question when picking hard negatives.
NEGATIVE_DEPTH = 30


@dataclass(frozen=True)
class RerankExample:
    """A query, the text that answers it, and texts that look relevant but do not."""

    query: str
    positive: str
    negatives: tuple[str, ...]


def _token_spans(tokenizer: Any) -> Callable[[str], list[tuple[int, int]]]:
    def spans(text: str) -> list[tuple[int, int]]:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        return [(start, end) for start, end in offsets if end > start]

    return spans


def _hard_negatives(queries: Sequence[str], texts: Sequence[str], owners: Sequence[Any], excluded: Sequence[set],
                    count: int, rng: random.Random) -> list[tuple[str, ...]]:
    """For each query, the ``count`` best BM25 texts whose owner is not excluded (topped up at random)."""
    import numpy as np

    from ..sparse import SparseIndex

    index = SparseIndex(stem=False)
    index.build(np.arange(len(texts), dtype=np.int64), list(texts))
    chosen = []
    for query, skip in zip(queries, excluded):
        _, ids = index.search(query, NEGATIVE_DEPTH)
        picked = list(dict.fromkeys(texts[int(i)] for i in ids if owners[int(i)] not in skip))[:count]
        if len(picked) < count:  # a query with few word matches: random texts make up the group
            pool = sorted({text for text, owner in zip(texts, owners) if owner not in skip} - set(picked))
            if len(pool) < count - len(picked):
                raise InvalidInputError(f"too few texts to give {query!r} {count} negatives; lower negatives or add data")
            picked += rng.sample(pool, count - len(picked))
        chosen.append(tuple(picked))
    return chosen


def quoref_examples(source: str | Path, tokenizer: Any, *, split: str = "train", negatives: int = 3,
                    chunk_tokens: int | None = None, overlap: int = 32, test_fraction: float = 0.2,
                    seed: int = 13) -> list[RerankExample]:
    """Question -> the chunk of its passage holding an answer, against BM25's best chunks of other passages.

    Args:
        source: a Quoref-layout folder (``passages.jsonl`` + ``questions.jsonl``).
        tokenizer: the model's tokenizer (chunks are counted in its tokens, as ``densekit index`` does).
        split: "train" (default: never the passages ``densekit train split`` puts on the test side),
            "test" or "all".
        negatives: hard negatives per question.
        chunk_tokens: tokens per chunk (default ``chunking.default_chunk_tokens``, as ``densekit index``).
    Returns:
        One example per question whose answer lies whole inside one chunk of its passage.

    Example:
        >>> examples = quoref_examples("../shared/data/quoref", tokenizer)
    """
    from ..chunking import chunk_text, default_chunk_tokens

    if negatives < 1:
        raise InvalidInputError(f"negatives must be >= 1, got {negatives}")
    data = split_quoref(load_quoref(source), split, test_fraction)
    limit = chunk_tokens or default_chunk_tokens(None)
    spans = _token_spans(tokenizer)
    chunks: dict[str, list[str]] = {pid: [chunk.text for chunk in chunk_text(text, spans, limit, min(overlap, limit - 1))]
                                    for pid, text in data.passages.items()}
    texts = [text for pid in chunks for text in chunks[pid]]
    owners = [pid for pid in chunks for _ in chunks[pid]]
    kept = []
    for question in data.questions:
        answers = [answer.lower() for answer in question["answers"] if answer.strip()]
        positive = next((text for text in chunks[question["passage_id"]] if any(a in text.lower() for a in answers)), None)
        if positive is not None:
            kept.append((question["question"], positive, question["passage_id"]))
    rng = random.Random(seed)
    groups = _hard_negatives([q for q, _, _ in kept], texts, owners, [{pid} for _, _, pid in kept], negatives, rng)
    return [RerankExample(query, positive, group) for (query, positive, _), group in zip(kept, groups)]


def paraphrase_examples(stsb_file: str | Path, *, negatives: int = 3, seed: int = 13) -> list[RerankExample]:
    """STS-B pairs scored >= 4 (``eval.datasets.load_paraphrase_task``'s rule): sentence 1 -> its
    sentence 2, against the other sentence-2s BM25 ranks highest.

    Example:
        >>> examples = paraphrase_examples("../shared/data/stsb/sts-train.csv")
    """
    from ..eval.datasets import load_paraphrase_task

    if negatives < 1:
        raise InvalidInputError(f"negatives must be >= 1, got {negatives}")
    task = load_paraphrase_task(stsb_file, strict=True)
    texts = [document.text for document in task.documents]
    owners = [document.id for document in task.documents]
    by_id = dict(zip(owners, texts))
    rng = random.Random(seed)
    groups = _hard_negatives([query.question for query in task.queries], texts, owners,
                             [set(query.relevant) for query in task.queries], negatives, rng)
    return [RerankExample(query.question, by_id[query.relevant[0]], group) for query, group in zip(task.queries, groups)]


def load_tokenizer(base: str) -> Any:
    """The tokenizer of a BERT-style model or saved reranker (chunks for ``quoref_examples`` are counted in it)."""
    from transformers import AutoTokenizer

    from ..models import resolve_model

    return AutoTokenizer.from_pretrained(str(resolve_model(base)))


def load_reranker_base(base: str) -> tuple[Any, Any]:
    """(tokenizer, one-output sequence-classification model) from a BERT-style model or a saved reranker."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..models import resolve_model

    folder = resolve_model(base)
    with quiet_loading():  # no LOAD REPORT for the new head
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1)
    return tokenizer, model


def train_reranker(
    examples: list[RerankExample],
    base: str,
    out: str | Path,
    *,
    batch_size: int = 8,
    epochs: int = 1,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    learning_rate: float = 3e-5,
    max_length: int = 192,
    seed: int = 13,
    threads: int | None = None,
    gradient_checkpointing: bool = False,
    progress: ProgressCallback | None = None,
    log: StepLog | None = None,
    on_interrupt: Callable[[], None] | None = None,
) -> TrainingReport:
    """Fine-tune a cross-encoder from ``base`` on (query, positive, negatives) groups; save it to ``out``.

    Args:
        examples: from ``quoref_examples`` and/or ``paraphrase_examples`` (each with the same number of
            negatives).
        base: a BERT-style model folder or reference (the packaged all-MiniLM-L6-v2: its layers load, the
            one-output head is new), or a saved reranker to continue.
        out: folder for the model, its tokenizer and densekit_reranker.json (``--rerank out`` loads it).
        batch_size: queries per step (each brings its positive and negatives).
        epochs, max_steps, max_minutes: bounds on the run (the model so far is saved).
        learning_rate: AdamW peak rate (linear warm-up over 10% of steps, then linear decay).
        max_length: tokens per (query, passage) pair; the passage is cut when longer.
        threads: torch threads; gradient_checkpointing: less memory, ~20% more time.
        progress: ``progress(step, total_steps)``; log: per-step {"step", "loss", "examples_per_second"}.
        on_interrupt: called at Ctrl-C; training stops after the current step and the model so far
            is saved as usual (the report says ``interrupted``).

    Returns:
        A TrainingReport (examples = queries trained on).

    Example:
        >>> examples = quoref_examples("../shared/data/quoref", load_tokenizer("all-MiniLM-L6-v2"), split="train")
        >>> train_reranker(examples, "all-MiniLM-L6-v2", "/tmp/reranker", max_minutes=20)
    """
    from ..encoders.threads import configure_torch_threads

    if not examples:
        raise InvalidInputError("need at least one example to train a reranker")
    group_sizes = {len(example.negatives) for example in examples}
    if len(group_sizes) != 1 or 0 in group_sizes:
        raise InvalidInputError(f"every example needs the same number (>= 1) of negatives, got {sorted(group_sizes)}")
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
    configure_torch_threads(threads)
    import torch
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer, model = load_reranker_base(base)
    group = 1 + group_sizes.pop()
    steps_per_epoch = max(1, -(-len(examples) // batch_size))
    total = min(max_steps or steps_per_epoch * epochs, steps_per_epoch * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, total // 10), total)
    if gradient_checkpointing:
        enable_gradient_checkpointing(model)
    model.train()

    def epoch_batches():
        order = examples[:]
        rng.shuffle(order)
        return (order[start : start + batch_size] for start in range(0, len(order), batch_size))

    def batch_loss(batch: list[RerankExample]):
        queries = [example.query for example in batch for _ in range(group)]
        passages = [text for example in batch for text in (example.positive, *example.negatives)]
        encoded = tokenizer(queries, passages, truncation="only_second", max_length=max_length, padding=True,
                            return_tensors="pt")
        logits = model(**encoded).logits.view(len(batch), group)
        # The positive is each group's first text: a softmax over the group puts it on top.
        loss = torch.nn.functional.cross_entropy(logits, torch.zeros(len(batch), dtype=torch.long))
        return loss, len(batch)

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
    (target / RERANKER_FILE).write_text(json.dumps({
        "base": base, "max_length": max_length,
        "training": {**summary.as_dict(), "batch_size": batch_size, "group": group, "learning_rate": learning_rate,
                     "queries": len(examples), "seed": seed, "gradient_checkpointing": gradient_checkpointing},
    }, indent=2) + "\n", encoding="utf-8")
    return summary
