"""``densekit bench encode``: encoding speed and STS-B quality of each backend, side by side
(the measuring itself is ``densekit.bench``; this module is the command and its table).

Rows: plain ``SentenceTransformer.encode`` (the baseline every ratio is against), densekit's torch
encoder, ONNX fp32, ONNX int8 with per-token scales (the default) and the older dynamic ONNX int8. Variants are interleaved (the order rotates each round) and
repeated; the table shows medians, and ratios are medians of per-round ratios, because load on a
shared machine drifts between rounds more than within one.

Texts: short = STS-B sentences from ``--sts`` (else sentences of gensim's bundled Lee news corpus);
long = ``--passages`` (JSON lines with "text") else Lee documents, cut at ``--long-tokens`` model tokens.

"of peak": each row's useful model FLOP/s as a fraction of this CPU's fp32 matmul peak, measured in
the same run at the encoders' thread count (``matmul_peak``). Model FLOPs per token (``ModelFlops``):

    2 * N  +  4 * layers * L * hidden

N = non-embedding parameters (all but embedding tables and the pooler: one multiply-add per weight
per token in the dense layers), L = the attention span, the token-weighted mean length
sum(len^2) / sum(len) over the texts (QK^T and attention x V: 2 * L * hidden multiply-adds per token
per layer). Only real tokens count, not padding. int8 rows can pass 1.0: the peak is fp32's.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, List, Optional

import typer

from ..bench import (  # noqa: F401 - measurement names, re-exported for older imports
    BASELINE,
    PEAK_SIZE,
    QUALITY_TOLERANCE,
    ModelFlops,
    Row,
    add_peak_fraction,
    load_variants,
    long_texts,
    matmul_peak,
    measure,
    quality_check,
    short_texts,
    sts_quality,
)
from ..errors import InvalidInputError

bench_app = typer.Typer(help="Measure speed and quality on this machine.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")


# --- command -------------------------------------------------------------------------------------


@bench_app.command("encode")
def encode(
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Model name or path (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    backends: Optional[List[str]] = typer.Option(
        None, "--backend", "-b", help="Backend to measure (repeatable): a text-model backend of the registry "
        "(torch, onnx, onnx-int8-row, onnx-int8). Default: all of them."
    ),
    short: int = typer.Option(1024, "--short", min=0, help="Short texts (sentences)."),
    long: int = typer.Option(64, "--long", min=0, help="Long texts (passages cut at --long-tokens)."),
    long_tokens: int = typer.Option(250, "--long-tokens", min=8, help="Model tokens per long text."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed rounds per variant (medians are shown)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Texts per model call."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Intra-op threads (default: chosen for this machine)."),
    sts: Optional[Path] = typer.Option(None, "--sts", help="STS-B file (e.g. sts-dev.csv): short texts and the Spearman column."),
    passages: Optional[Path] = typer.Option(None, "--passages", help='JSON lines with "text": the long texts.'),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Sentences/s and tokens/s of torch fp32, ONNX fp32 and the ONNX int8 backends, with ratios to plain SentenceTransformer.encode
    and the fraction of this CPU's fp32 matmul peak each reaches.

    Peak: the best of 8 fp32 2048 x 2048 matrix products (torch, the encoders' thread count).

    Model FLOPs per token = 2 x non-embedding parameters + 4 x layers x L x hidden (attention), L = the token-weighted mean text length; real tokens only, padding excluded.
    """
    from .. import config
    from ..encoders.threads import default_threads
    from .output import console, print_json, progress_bar

    model = model or config.default_text_model()
    from ..encoders.registry import backend_names

    chosen = list(dict.fromkeys(backends or backend_names(text_model=True)))
    with progress_bar("loading / exporting models", quiet=quiet) as progress:
        variants = load_variants(model, chosen, threads, progress)
    used_threads = threads or default_threads()
    peak = matmul_peak(used_threads, PEAK_SIZE)
    flops = ModelFlops.of(variants[BASELINE].model[0].auto_model)
    sets = []
    if short:
        sets.append(("short", short_texts(short, sts)))
    if long:
        sets.append(("long", long_texts(long, variants[BASELINE], long_tokens, passages)))
    rows: list[Row] = []
    for label, texts in sets:
        if not texts:
            raise InvalidInputError(f"no {label} texts found to benchmark (check --sts / --passages)")
        with progress_bar(f"timing {label} texts", quiet=quiet) as progress:
            rows.extend(measure(variants, texts, label, repeats, batch_size, progress))
    add_peak_fraction(rows, flops, peak)
    scores: dict[str, float] = {}
    if sts is not None:
        with progress_bar("STS-B quality", quiet=quiet) as progress:
            scores = sts_quality(variants, sts, progress)
    passed = quality_check(scores)
    if json_output:
        print_json({"model": model, "threads": threads, "threads_used": used_threads, "batch_size": batch_size,
                    "repeats": repeats, "matmul_peak_gflops": peak, "model_flops": asdict(flops),
                    "rows": [asdict(row) for row in rows], "sts_spearman": scores, "quality_ok": passed})
        return
    out = console()
    if not out.is_terminal:  # piped or logged: rich would cut the 10 columns to 80 characters
        from rich.console import Console

        out = Console(width=max(out.width, 132))
    _print_table(model, rows, scores, passed, repeats, out)
    out.print(f"of peak = model GFLOP/s / fp32 matmul peak {peak:.1f} GFLOP/s ({used_threads} thread"
                    f"{'s' if used_threads > 1 else ''}); model FLOPs/token = 2 x {flops.parameters:,} non-embedding "
                    f"parameters + 4 x {flops.layers} layers x L x {flops.hidden} hidden (L: mean tokens, "
                    "token-weighted).", highlight=False)


def _print_table(model: str, rows: list[Row], scores: dict, passed: dict, repeats: int, out: Any) -> None:
    from rich.table import Table

    table = Table(title=f"{model}: encoding speed, median of {repeats} interleaved rounds")
    for column in ("backend", "texts", "n", "tok/text", "sent/s", "tok/s", "x plain", "GFLOP/s", "of peak", "STS-B"):
        table.add_column(column, justify="left" if column in ("backend", "texts") else "right", no_wrap=True)
    shown_score: set[str] = set()
    for row in rows:
        score = scores.get(row.backend) if row.backend not in shown_score else None
        shown_score.add(row.backend)
        quality = "" if score is None else f"{score:.2f}" + ("" if passed.get(row.backend, True) else " DROP>0.5")
        name = "plain ST" if row.backend == BASELINE else row.backend
        table.add_row(name, row.texts, str(row.count), f"{row.tokens_per_text:.0f}", f"{row.sentences_per_second:.1f}",
                      f"{row.tokens_per_second:.0f}", f"{row.ratio:.2f}", _number(row.gflops, "{:.1f}"),
                      _number(row.peak_fraction, "{:.2f}"), quality)
    out.print(table)
    out.print("plain ST = SentenceTransformer.encode (torch fp32); x plain = median of per-round ratios; "
              "STS-B = Spearman x100 (--sts).")


def _number(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)
