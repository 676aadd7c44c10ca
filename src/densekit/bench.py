"""Measuring encoders: speed of each backend against plain ``SentenceTransformer.encode`` (interleaved,
repeated, medians), the fraction of this CPU's matmul peak, and STS-B quality. ``densekit bench
encode`` and benchmarks/onnx_speed.py are front ends to this module.

Rows: plain ``SentenceTransformer.encode`` (the baseline every ratio is against), densekit's torch
encoder, ONNX fp32, ONNX int8 with per-token scales (the default) and the older dynamic ONNX int8.
Variants are interleaved (the order rotates each round) and repeated; ratios are medians of
per-round ratios, because load on a shared machine drifts between rounds more than within one.

Texts: short = STS-B sentences (else sentences of gensim's bundled Lee news corpus); long =
passages (JSON lines with "text", else Lee documents) cut at a number of model tokens.

Model FLOPs per token (``ModelFlops``): 2 * N + 4 * layers * L * hidden, N = non-embedding
parameters, L = the token-weighted mean text length sum(len^2) / sum(len); only real tokens count.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import InvalidInputError

BASELINE = "plain"
#: int8 may lose at most this much STS-B Spearman (x100) against torch fp32.
QUALITY_TOLERANCE = 0.5
#: Side of the square fp32 matrices whose product measures the matmul peak (2048: 17 GFLOP a product).
PEAK_SIZE = 2048

# --- texts ---------------------------------------------------------------------------------------


def _lee_corpus() -> Path:
    """gensim's bundled Lee news corpus (300 documents), found without importing gensim."""
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("no texts to benchmark: pass --sts FILE and --passages FILE (or install gensim)")
    return Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data" / "lee_background.cor"


def short_texts(count: int, sts_file: Path | None = None) -> list[str]:
    """``count`` distinct short sentences: from an STS-B file (fields 6-7), else the Lee corpus."""
    if sts_file is not None:
        from .eval.datasets import load_sts

        sentences = (text for pair in load_sts(sts_file).items for text in (pair.sentence1, pair.sentence2))
    else:
        lines = _lee_corpus().read_text(encoding="utf-8").splitlines()
        sentences = (part.strip() for line in lines for part in re.split(r"(?<=[.!?])\s+", line))
    distinct = list(dict.fromkeys(text for text in sentences if len(text.split()) >= 3))
    return distinct[:count]


def long_texts(count: int, encoder: Any, tokens: int, passages_file: Path | None = None) -> list[str]:
    """``count`` passages of at least ``tokens`` model tokens, cut at the end of that token."""
    if passages_file is not None:
        with open(passages_file, encoding="utf-8") as handle:
            documents = [json.loads(line)["text"] for line in handle if line.strip()]
    else:
        documents = _lee_corpus().read_text(encoding="utf-8").splitlines()
    texts = []
    for document in documents:
        spans = encoder.token_spans(document)
        if len(spans) >= tokens:
            texts.append(document[: spans[tokens - 1][1]])
        if len(texts) == count:
            break
    return texts


# --- measurement ---------------------------------------------------------------------------------


@dataclass
class Row:
    """One backend on one text set: medians over rounds, ratios against the plain baseline."""

    backend: str
    texts: str
    count: int
    tokens_per_text: float
    sentences_per_second: float
    tokens_per_second: float
    ratio: float
    rates: list[float] = field(default_factory=list)
    #: sum(len^2) / sum(len) over the texts' model tokens: the mean attention span per token.
    attention_span: float = 0.0
    #: useful model GFLOP/s (``ModelFlops``) and that as a fraction of the measured fp32 matmul peak.
    gflops: float | None = None
    peak_fraction: float | None = None


@dataclass(frozen=True)
class ModelFlops:
    """What a transformer encoder computes per token: ``per_token(span)`` FLOPs (see the module docstring).

    Example:
        >>> ModelFlops(parameters=1_000_000, layers=2, hidden=64).per_token(10)
        2005120.0
    """

    parameters: int  # non-embedding parameters
    layers: int
    hidden: int

    def per_token(self, span: float) -> float:
        """FLOPs per token: 2 * parameters (dense layers) + 4 * layers * span * hidden (attention)."""
        return 2.0 * self.parameters + 4.0 * self.layers * span * self.hidden

    @classmethod
    def of(cls, model: Any) -> "ModelFlops":
        """Count a Hugging Face encoder (a torch module with ``config``): parameters outside its
        ``nn.Embedding`` tables and pooler, ``num_hidden_layers``, ``hidden_size``."""
        import torch

        embedding = {id(parameter) for module in model.modules() if isinstance(module, torch.nn.Embedding)
                     for parameter in module.parameters(recurse=False)}
        counted = sum(parameter.numel() for name, parameter in model.named_parameters()
                      if id(parameter) not in embedding and not name.startswith("pooler."))
        return cls(int(counted), int(model.config.num_hidden_layers), int(model.config.hidden_size))


def matmul_peak(threads: int, size: int = 2048, repeats: int = 8) -> float:
    """This CPU's fp32 matrix-multiply rate in GFLOP/s: the best of ``repeats`` size x size products
    with torch at ``threads`` intra-op threads (the count the encoders use; restored afterwards).

    Example:
        >>> matmul_peak(1) > 1.0
        True
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        left = torch.rand(size, size, generator=generator)
        right = torch.rand(size, size, generator=generator)
        out = torch.empty(size, size)
        torch.mm(left, right, out=out)  # warm-up: the first call picks kernels
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(left, right, out=out)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return 2.0 * size**3 / best / 1e9


def add_peak_fraction(rows: list[Row], flops: ModelFlops, peak_gflops: float) -> None:
    """Fill each row's ``gflops`` (FLOPs per token at its attention span x tokens/s) and ``peak_fraction``."""
    for row in rows:
        row.gflops = flops.per_token(row.attention_span) * row.tokens_per_second / 1e9
        row.peak_fraction = row.gflops / peak_gflops


def load_variants(model: str, backends: Sequence[str], threads: int | None, progress=None) -> dict[str, Any]:
    """Encoders by variant name: ``plain`` (the torch encoder, called through SentenceTransformer.encode) + backends."""
    from .encoders.onnx import OnnxEncoder
    from .encoders.registry import BACKENDS, backend_names
    from .encoders.sentence import SentenceEncoder

    valid = backend_names(text_model=True)
    unknown = [name for name in backends if name not in valid]
    if unknown:
        raise InvalidInputError(f"unknown backend {unknown[0]!r}; valid: {', '.join(valid)}")
    torch_encoder = SentenceEncoder(model, threads=threads)
    variants: dict[str, Any] = {BASELINE: torch_encoder}
    precisions = {"fp32": None, "int8": "int8", "int8-row": "int8-row"}
    for name in backends:
        precision = BACKENDS[name].onnx_precision
        if precision is None:  # torch: the same model plain ST runs, through densekit's batching
            variants[name] = torch_encoder
        else:
            variants[name] = OnnxEncoder(model, quantize=precisions[precision], threads=threads, progress=progress)
    return variants


def _call(name: str, encoder: Any, texts: list[str], batch_size: int) -> Callable[[], Any]:
    if name == BASELINE:
        return lambda: encoder.model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return lambda: encoder.encode(texts, batch_size=batch_size)


def measure(
    variants: dict[str, Any],
    texts: list[str],
    label: str,
    repeats: int = 3,
    batch_size: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Throughput of every variant on ``texts``: interleaved, rotated each round, ``repeats`` rounds.

    Example:
        >>> [row.backend for row in measure(load_variants("all-MiniLM-L6-v2", ["onnx"], 1), texts, "short")]
        ['plain', 'onnx']
    """
    names = list(variants)
    tokenizer_owner = variants[BASELINE]
    limit = tokenizer_owner.max_seq_length
    lengths = [min(tokenizer_owner.count_tokens(text) + 2, limit or 10**9) for text in texts]  # + [CLS] [SEP]
    tokens = sum(lengths)
    for name in names:  # warm-up: first calls allocate buffers and pick kernels
        _call(name, variants[name], texts[: min(len(texts), batch_size)], batch_size)()
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(repeats):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            _call(name, variants[name], texts, batch_size)()
            rates[name].append(len(texts) / (time.perf_counter() - start))
        if progress:
            progress(round_number + 1, repeats)
    rows = []
    for name in names:
        median = statistics.median(rates[name])
        paired = statistics.median(ours / base for ours, base in zip(rates[name], rates[BASELINE]))
        rows.append(Row(name, label, len(texts), tokens / len(texts), median, median * tokens / len(texts),
                        paired, rates[name], sum(length * length for length in lengths) / tokens))
    return rows


def sts_quality(variants: dict[str, Any], sts_file: Path, progress=None) -> dict[str, float]:
    """STS-B Spearman (x100) per variant; ``plain`` shares the torch encoder, so it is scored once."""
    from .eval.datasets import load_sts
    from .eval.sts import evaluate_sts

    pairs = load_sts(sts_file).items
    scores: dict[str, float] = {}
    for name, encoder in variants.items():
        twin = next((other for other, value in scores.items() if variants[other] is encoder), None)
        scores[name] = scores[twin] if twin else evaluate_sts(encoder, pairs, progress=progress).spearman
    return scores


def quality_check(scores: dict[str, float]) -> dict[str, bool]:
    """Per backend: True when it is within QUALITY_TOLERANCE of the torch fp32 Spearman."""
    reference = scores.get(BASELINE)
    if reference is None:
        return {}
    return {name: score >= reference - QUALITY_TOLERANCE for name, score in scores.items()}
