"""``densekit eval ...``: quality benchmarks on real data (``eval sts``, ``eval retrieval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..encoders.registry import backend_help

eval_app = typer.Typer(help="Measure quality on evaluation data.", no_args_is_help=True)


@eval_app.command("sts")
def sts(
    file: Path = typer.Argument(
        ..., help="STS-B style file: tab-separated, score in field 5, sentences in fields 6-7."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Encoder model name or path (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    backend: Optional[str] = typer.Option(
        None, "--backend", "-b", help="Encoder backend to measure (default: the one `densekit index` would use "
        "for the model): " + backend_help(text_model=True) + ".",
    ),
    limit: Optional[int] = typer.Option(None, "--limit", min=2, help="Use only the first N pairs (a quick check)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed line instead of skipping it."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Spearman correlation x100 between cosine similarity and the gold scores (the STS-B figure), for
    the backend that was measured (printed with the score)."""
    from ..encoders.factory import load_encoder
    from ..eval.datasets import load_sts
    from ..eval.sts import evaluate_sts
    from .output import console, print_json, progress_bar

    loaded = load_sts(file, strict=strict)
    pairs = loaded.items[:limit] if limit else loaded.items
    encoder = load_encoder(model, backend=backend)
    with progress_bar("encoding sentences", quiet=quiet) as progress:
        result = evaluate_sts(encoder, pairs, progress=progress)
    for problem in loaded.problems:
        typer.echo(f"warning: skipped {problem}", err=True)
    if json_output:
        print_json({**result.as_dict(), "file": str(file), "skipped_lines": len(loaded.problems)})
        return
    console().print(
        f"{result.model} (backend {result.backend}): Spearman {result.spearman:.2f}, Pearson {result.pearson:.2f} "
        f"(x100, cosine vs gold, {result.pairs} pairs from {file})", highlight=False,
    )


_SHOWN_PROBLEMS = 10


def _warn(problems: list[str], what: str) -> None:
    # A broken file can hold thousands of bad lines: show the first few and a count.
    for problem in problems[:_SHOWN_PROBLEMS]:
        typer.echo(f"warning: {what}{problem}", err=True)
    if len(problems) > _SHOWN_PROBLEMS:
        typer.echo(f"warning: ... and {len(problems) - _SHOWN_PROBLEMS} more like these", err=True)


@eval_app.command("retrieval")
def retrieval(
    corpus: Path = typer.Option(..., "--corpus", help='JSON lines, one {"id", "text"} passage per line.'),
    queries: Path = typer.Option(
        ..., "--queries", help='JSON lines: {"question", "relevant": list of ids} or {"question", "answers", "passage_id"}.'
    ),
    mode: str = typer.Option("dense,sparse,hybrid", "--mode", help="Comma list of search modes: dense, sparse, hybrid."),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help="Encoder for a new index (default: DENSEKIT_MODEL, else all-mpnet-base-v2)."
    ),
    backend: Optional[str] = typer.Option(
        None, "--backend", "-b", help="Encoder backend for a new index (default: the one `densekit index` would "
        "use for the model; an existing --collection keeps its own): " + backend_help(text_model=True) + ".",
    ),
    alpha: Optional[float] = typer.Option(
        None, "--alpha", help="Hybrid: weighted fusion alpha*dense + (1-alpha)*sparse, 0..1 (default: reciprocal rank fusion)."
    ),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Cross-encoder model to rerank each mode's candidates."),
    collection_path: Optional[str] = typer.Option(
        None, "--collection",
        help="Keep the index here (a folder or postgresql:// URL) and reuse it next run (default: a temporary folder).",
    ),
    k_values: str = typer.Option("1,5,10,20,100", "--k", help="Comma list of recall cut-offs (the deepest is the retrieval depth)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N queries (a quick check)."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first malformed line instead of skipping it."),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the full result (with per-query ranks) as JSON here."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON instead of the table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Recall@k, MRR@10, nDCG@10 and queries/s of each search mode over a corpus and its queries."""
    import json
    import tempfile

    from ..errors import InvalidInputError
    from ..eval.datasets import load_corpus, load_queries
    from ..eval.retrieval import build_collection, describe_run, evaluate_retrieval, open_collection, parse_modes
    from .output import print_json, progress_bar

    # Check every option before the (possibly long) index build.
    modes = parse_modes(mode)
    cutoffs = _parse_k_values(k_values)
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit must be a positive integer, got {limit}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"--alpha must be between 0 and 1 (1 = dense only, 0 = sparse only), got {alpha}")
    documents = load_corpus(corpus, strict=strict)
    questions = load_queries(queries, strict=strict)
    _warn(documents.problems, "skipped ")
    _warn(questions.problems, "skipped ")
    if not documents.items:
        raise InvalidInputError(f"{corpus}: no valid passages; expected JSON lines with \"id\" and \"text\"")
    if not questions.items:
        raise InvalidInputError(f"{queries}: no valid queries; expected JSON lines with \"question\" and \"relevant\"")
    chosen = questions.items[:limit] if limit else questions.items

    encoder = None
    if backend is not None:
        from ..encoders.factory import load_encoder

        encoder = load_encoder(model, backend=backend)
    with tempfile.TemporaryDirectory(prefix="densekit-eval-") as scratch:
        folder = collection_path if collection_path is not None else str(Path(scratch) / "collection")
        with open_collection(folder, model=model, encoder=encoder) as collection:
            with progress_bar("indexing passages", quiet=quiet) as progress:
                built = build_collection(collection, documents.items, progress=progress)
            with progress_bar("searching", quiet=quiet) as progress:
                result = evaluate_retrieval(collection, chosen, modes, cutoffs, progress=progress,
                                            alpha=alpha, rerank=rerank)
            result.update(describe_run(collection, built, documents.items))
            result["backend"] = collection.encoder().backend
    build = result["build"]
    if build["truncated"]:
        typer.echo(
            f"note: {build['truncated']} passages are longer than the model's {build['max_length']} tokens; "
            "the model truncates them (not chunked: relevance is per passage id)", err=True,
        )
    if result["extra_items"]:
        typer.echo(f"warning: the collection holds {result['extra_items']} items that are not in {corpus}; "
                   "they can be retrieved and count as misses", err=True)
    _warn(result["problems"], "")  # unanswerable queries
    summary = {**result, "corpus": str(corpus), "queries_file": str(queries),
               "collection": collection_path,
               "skipped_lines": {"corpus": len(documents.problems), "queries": len(questions.problems)}}
    if out is not None:
        out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    summary.pop("per_query")
    if json_output:
        print_json(summary)
        return
    _print_table(summary)


def _parse_k_values(text: str) -> list[int]:
    from ..errors import InvalidInputError
    from ..eval.retrieval import check_k_values

    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            values.append(int(part))
        except ValueError:
            raise InvalidInputError(f"--k must be a comma list of positive integers, got {part!r} in {text!r}") from None
    return check_k_values(values)


def _print_table(summary: dict) -> None:
    from ..eval.retrieval import format_table

    build = summary["build"]
    typer.echo(format_table(summary))
    typer.echo(
        f"{summary['queries']} queries x {summary['passages']} passages, model {summary['model']} "
        f"(backend {summary['backend']}); index build "
        f"{build['seconds']:.1f} s ({build['added']} passages added, {build['reused']} reused); "
        f"retrieval depth {summary['depth']}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
