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
    corpus: Optional[Path] = typer.Option(None, "--corpus", help='JSON lines, one {"id", "text"} passage per line.'),
    queries: Optional[Path] = typer.Option(
        None, "--queries", help='JSON lines: {"question", "relevant": list of ids} or {"question", "answers", "passage_id"}.'
    ),
    stsb: Optional[Path] = typer.Option(
        None, "--stsb",
        help="Instead of --corpus/--queries: an STS-B file as a paraphrase task (queries = sentence 1 of pairs "
             "scored >= 4, corpus = the unique sentence-2s).",
    ),
    chunk_tokens: Optional[int] = typer.Option(
        None, "--chunk-tokens", help="Tokens per chunk (default: as densekit index: 126, the length the model was trained on less 2, or its maximum - 2 if shorter)."
    ),
    overlap: int = typer.Option(32, "--overlap", help="Tokens shared by neighbouring chunks (as densekit index)."),
    no_chunk: bool = typer.Option(False, "--no-chunk", help="Index each passage whole (the model truncates long ones)."),
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
    """Recall@k, MRR@10, nDCG@10 and queries/s of each search mode over a corpus and its queries.

    Passages are split as ``densekit index`` splits them, and each passage is found at the rank of
    its best chunk.
    """
    import json
    import tempfile

    from ..errors import InvalidInputError
    from ..eval.passages import ChunkSettings
    from ..eval.retrieval import build_collection, describe_run, evaluate_retrieval, open_collection, parse_modes
    from .output import print_json, progress_bar

    # Check every option before the (possibly long) index build.
    modes = parse_modes(mode)
    cutoffs = _parse_k_values(k_values)
    if limit is not None and limit < 1:
        raise InvalidInputError(f"--limit must be a positive integer, got {limit}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"--alpha must be between 0 and 1 (1 = dense only, 0 = sparse only), got {alpha}")
    if no_chunk and chunk_tokens is not None:
        raise InvalidInputError("--no-chunk and --chunk-tokens contradict each other; give one")
    chunking = ChunkSettings(tokens=chunk_tokens, overlap=overlap, enabled=not no_chunk)
    documents, questions, corpus_label, queries_label, skipped = _retrieval_data(corpus, queries, stsb, strict)
    chosen = questions[:limit] if limit else questions

    encoder = None
    if backend is not None:
        from ..encoders.factory import load_encoder

        encoder = load_encoder(model, backend=backend)
    with tempfile.TemporaryDirectory(prefix="densekit-eval-") as scratch:
        folder = collection_path if collection_path is not None else str(Path(scratch) / "collection")
        with open_collection(folder, model=model, encoder=encoder) as collection:
            with progress_bar("indexing passages", quiet=quiet) as progress:
                built = build_collection(collection, documents, progress=progress, chunking=chunking)
            with progress_bar("searching", quiet=quiet) as progress:
                result = evaluate_retrieval(collection, chosen, modes, cutoffs, progress=progress,
                                            alpha=alpha, rerank=rerank)
            result.update(describe_run(collection, built, documents))
            result["backend"] = collection.encoder().backend
    build = result["build"]
    if build["truncated"]:
        what = "passages" if no_chunk else "chunks"
        typer.echo(
            f"note: {build['truncated']} {what} are longer than the model's {build['max_length']} tokens; "
            "the model truncates them", err=True,
        )
    if result["extra_items"]:
        typer.echo(f"warning: the collection holds {result['extra_items']} items that are not pieces of {corpus_label} "
                   "as split now; they can be retrieved and count as misses", err=True)
    _warn(result["problems"], "")  # unanswerable queries
    summary = {**result, "corpus": corpus_label, "queries_file": queries_label,
               "collection": collection_path,
               "skipped_lines": skipped}
    if out is not None:
        out.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    summary.pop("per_query")
    if json_output:
        print_json(summary)
        return
    _print_table(summary)


def _retrieval_data(corpus: Optional[Path], queries: Optional[Path], stsb: Optional[Path], strict: bool):
    """(documents, queries, corpus label, queries label, skipped line counts) from --corpus/--queries or --stsb."""
    from ..errors import InvalidInputError
    from ..eval.datasets import load_corpus, load_paraphrase_task, load_queries

    if stsb is not None:
        if corpus is not None or queries is not None:
            raise InvalidInputError("--stsb builds both the corpus and the queries; drop --corpus/--queries")
        task = load_paraphrase_task(stsb, strict=strict)
        _warn(task.problems, "skipped ")
        if not task.queries:
            raise InvalidInputError(f"{stsb}: no pair scored >= 4.0 gives a query; nothing to evaluate")
        label = f"{stsb} (paraphrase task)"
        return task.documents, task.queries, label, label, {"stsb": len(task.problems)}
    if corpus is None or queries is None:
        raise InvalidInputError("give --corpus and --queries (JSON lines), or --stsb FILE")
    documents = load_corpus(corpus, strict=strict)
    questions = load_queries(queries, strict=strict)
    _warn(documents.problems, "skipped ")
    _warn(questions.problems, "skipped ")
    if not documents.items:
        raise InvalidInputError(f"{corpus}: no valid passages; expected JSON lines with \"id\" and \"text\"")
    if not questions.items:
        raise InvalidInputError(f"{queries}: no valid queries; expected JSON lines with \"question\" and \"relevant\"")
    return (documents.items, questions.items, str(corpus), str(queries),
            {"corpus": len(documents.problems), "queries": len(questions.problems)})


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
        f"{build['seconds']:.1f} s ({build['added']} items added, {build['reused']} reused); "
        f"retrieval depth {summary['depth']} passages"
    )
    typer.echo(f"{summary['split']}; a passage counts at the rank of its best chunk")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
