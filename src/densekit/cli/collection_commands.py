"""`densekit index | search | info | delete`: building and querying a collection from the shell."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .output import console, print_json, progress_bar
from .store_options import (
    allow_backend_mismatch_option,
    backend_option,
    exists,
    location,
    open_target,
    prepare_encoder,
    replica_option,
    store_option,
)


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)
    app.command("info")(info)
    app.command("delete")(delete)
    app.command("check")(check)
    app.command("reencode")(reencode)


def index(
    collection: str = typer.Argument(..., help="Collection folder (created if missing), or its name with --store."),
    paths: List[Path] = typer.Argument(..., help=".txt, .md, .jsonl files and folders (recursive)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model for a new collection (default all-mpnet-base-v2); must match an existing one."),
    index_kind: str = typer.Option("auto", "--index", help="Vector index: auto, exact, flat or hnsw."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Tokens per chunk (default 126: the 128-token inputs the model was trained on less its 2 special tokens, or its maximum - 2 if shorter; at most its maximum - 2)."),
    overlap: int = typer.Option(32, "--overlap", help="Tokens shared by neighbouring chunks."),
    index_key: Optional[List[str]] = typer.Option(None, "--index-key", help="Index this metadata key for fast filters (repeatable)."),
    path_metadata: Optional[str] = typer.Option(None, "--path-metadata", help='Metadata from each file\'s path inside the folder, e.g. "{category}/{file}".'),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Texts per model call."),
    commit_every_docs: int = typer.Option(256, "--commit-every-docs", help="Commit after this many written documents (or sooner, see --commit-every-seconds)."),
    commit_every_seconds: float = typer.Option(10.0, "--commit-every-seconds", help="Commit after this many seconds (or sooner, see --commit-every-docs); 0: after every document."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    store: Optional[str] = store_option(),
    backend: Optional[str] = backend_option(),
    allow_backend_mismatch: bool = allow_backend_mismatch_option(),
) -> None:
    """Index files into a collection; unchanged files are skipped, changed ones replaced.

    Commits as it goes, between documents: a run that is stopped keeps what it committed, and
    running it again encodes only the documents that were not."""
    from ..collection import Collection
    from ..ingest import CommitEvery, ingest
    from ..loaded_models import default_models
    from . import option_checks

    # Every option before anything is created or loaded: a refused run leaves no collection behind.
    commit_every = CommitEvery(documents=commit_every_docs, seconds=commit_every_seconds)
    option_checks.chunking(max_tokens, overlap)
    option_checks.at_least(batch_size, 1, "--batch-size")
    option_checks.path_metadata(path_metadata)
    option_checks.index_keys(index_key)
    if store is None and not exists(collection, store):
        # A new embedded collection: the run's BM25 worker (from its first write) starts while the
        # model loads. An existing one starts it when it pays off (EmbeddedWrites._worker_pays_off).
        from ..collection.embedded.sparse_worker import prestart

        prestart()
    if exists(collection, store):
        target = open_target(collection, store, readonly=False, model=model, backend=backend,
                             allow_backend_mismatch=allow_backend_mismatch)
    else:  # backend None: the default for the model (onnx-int8 where it applies; encoders/defaults.py)
        where, name = location(collection, store)
        prepare_encoder(model, backend, quiet or json_output)
        # Loaded once: Collection.create takes the same shared encoder from default_models().
        option_checks.chunk_limit(max_tokens, default_models().encoder(model, backend))
        target = Collection.create(where, model=model, index=index_kind, name=name, backend=backend)
    with target:
        with progress_bar("encoding", quiet or json_output) as progress:
            report = ingest(target, paths, max_tokens=max_tokens, overlap=overlap, batch_size=batch_size, progress=progress,
                            path_metadata=path_metadata, commit_every=commit_every)
        if index_key:
            target.index_keys(index_key)
        target.commit()
        total = target.count()
    summary = {**report.as_dict(), "collection": str(collection), "items": total}
    if json_output:
        print_json(summary)
        return
    out = console()
    migrated = f", {report.migrated} moved to relative ids" if report.migrated else ""
    out.print(
        f"[bold]{collection}[/]: {report.added} new, {report.replaced} changed, {report.unchanged} unchanged"
        f"{migrated} documents; {report.chunks} chunks written; {total} items in all", highlight=False
    )
    if report.problems:
        out.print(f"[yellow]{len(report.problems)} problems (each names what was skipped or kept):[/]")
        for path, reason in report.problems:
            out.print(f"  {path}: {reason}", markup=False, highlight=False)


def search(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    query: str = typer.Argument(..., help="What to look for."),
    k: int = typer.Option(5, "-k", "--k", help="Number of hits."),
    mode: str = typer.Option("dense", "--mode", help="dense, sparse or hybrid."),
    where: Optional[List[str]] = typer.Option(None, "--where", "-w", help="Metadata filter key=value (key=a,b for any of)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="Hybrid: weighted fusion, alpha*dense + (1-alpha)*sparse of min-max normalised scores."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="Hybrid: probability (default; docs/retrieval.md), rrf or weighted."),
    rerank: Optional[str] = typer.Option(None, "--rerank", help="Cross-encoder model to rerank the top candidates."),
    group: Optional[str] = typer.Option(None, "--group", help="parent: one hit per document (its best chunk)."),
    explain: bool = typer.Option(False, "--explain", help="Show each hit's dense and sparse score and rank next to the fused score (--json: an explain object per hit)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Must match the collection's model."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
    read_replica: Optional[List[str]] = replica_option(),
    backend: Optional[str] = backend_option(),
    allow_backend_mismatch: bool = allow_backend_mismatch_option(),
) -> None:
    """Search a collection by meaning (dense), exact words (sparse) or both (hybrid)."""
    from ..collection.where import parse_where_options
    from . import option_checks

    option_checks.count(k, "-k")
    option_checks.fraction(alpha, "--alpha")
    target = open_target(collection, store, readonly=True, model=model, read_replicas=read_replica, backend=backend,
                         allow_backend_mismatch=allow_backend_mismatch)
    try:
        conditions = parse_where_options(where)
        hits = target.search(query, k=k, mode=mode, where=conditions, alpha=alpha, rerank=rerank, group=group,
                             fusion=fusion, explain=explain)
        warnings = unknown_keys_warnings(target, conditions)
    finally:
        target.close()
    if json_output:
        print_json({"query": query, "mode": mode, "hits": [hit.as_dict() for hit in hits],
                    **({"warnings": warnings} if warnings else {})})
        return
    from rich.console import Console
    from rich.markup import escape

    out = console()
    for warning in warnings:
        Console(stderr=True).print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    if not hits:
        out.print("no hits")
    elif explain:
        out.print(explanation_table(hits))
        return
    for rank, hit in enumerate(hits, start=1):
        out.print(f"[bold]{rank}.[/] [cyan]{hit.score:.3f}[/]  {escape(hit.title or hit.parent or hit.id)}  [dim]{escape(hit.id)}[/]",
                  highlight=False)
        out.print("    ", highlighted(hit.snippet, hit.highlights), sep="", highlight=False)


def info(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """What a collection holds: items, spaces (model, dimension, index), sparse index, size."""
    target = open_target(collection, store, readonly=True)
    try:
        details = target.info()
    finally:
        target.close()
    if json_output:
        print_json(details)
        return
    out = console()
    out.print(f"[bold]{details['path']}[/]: {details['count']} items, generation {details['generation']}, "
              f"{details['size_bytes'] / 1e6:.1f} MB")
    for name, space in details["spaces"].items():
        out.print(f"  space {name}: {space['model']} ({space['dimension']}-d, {space['backend']}), "
                  f"{space['index']} index, {space['vectors']} vectors", highlight=False)
    sparse = details.get("sparse")
    out.print(f"  sparse: BM25 over {sparse['count']} texts" if sparse else "  sparse: none", highlight=False)
    keys = details.get("metadata_keys") or {}
    shown = ", ".join(f"{key} ({count})" for key, count in keys.items())
    out.print(f"  metadata keys: {shown or 'none'}", highlight=False, markup=False)


def delete(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    ids: List[str] = typer.Argument(..., help="Item ids, or document ids (all their chunks)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Delete items (or whole documents) from a collection."""
    with open_target(collection, store, readonly=False) as target:
        removed = target.delete(ids)
        target.commit()
        remaining = target.count()
    if json_output:
        print_json({"removed": removed, "items": remaining})
    else:
        console().print(f"removed {removed} items; {remaining} left")


def check(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
    repair: bool = typer.Option(False, "--repair", help="Rebuild what can be derived from the stored items (sparse and vector indexes), then check again."),
) -> None:
    """Check a collection's integrity: every file, counts per space, ids across content/vectors/sparse."""
    from ..collection.check import check_collection, repair_collection

    where, name = location(collection, store)
    repaired = repair_collection(where, name=name) if repair else []
    for action in repaired if not json_output else []:
        console().print(f"[green]repaired:[/] {action}", highlight=False)
    problems = check_collection(where, name=name)
    if json_output:
        print_json({"collection": str(collection), "ok": not problems, "problems": problems,
                    **({"repaired": repaired} if repair else {})})
    elif problems:
        for problem in problems:
            console().print(f"[red]problem:[/] {problem}", highlight=False)
    else:
        console().print(f"{collection}: ok")
    if problems:
        raise typer.Exit(1)


def unknown_keys_warnings(collection, where: dict) -> list[str]:
    """A warning for each filter key no item has (a typo, or metadata the files never had)."""
    if not where:
        return []
    keys = collection.metadata_keys()
    return [
        f"no item has the metadata key {key!r}, so the filter matches nothing; keys: {', '.join(keys) or 'none'}"
        for key in where if key not in keys
    ]


def explanation_table(hits):
    """Hits as a table: the fused score, then per side its raw score, its rank there, and its share of the score."""
    from rich.table import Table

    def side(part, digits: int) -> str:
        return "-" if part is None else f"{part['score']:.{digits}f} #{part['rank']} -> {part['share']:.4f}"

    fusion = hits[0].explain.get("fusion")
    reranked = "rerank" in hits[0].explain
    title = (f"fusion: {fusion or 'none (one side)'}; each side: its score #its rank -> its share "
             f"(the shares add up to the {'fused ' if reranked else ''}score)" + ("; hits reranked" if reranked else ""))
    table = Table(title=title, title_justify="left")
    columns = ["#", "score", *(["fused"] if reranked else []), "dense (cosine)", "sparse (BM25)", "id"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("id", "dense (cosine)", "sparse (BM25)") else "right",
                         overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        parts = hit.explain
        fused = [f"{parts['score']:.4f}"] if reranked else []
        table.add_row(str(rank), f"{hit.score:.4f}", *fused, side(parts["dense"], 4), side(parts["sparse"], 3), hit.id)
    return table


def highlighted(snippet: str, spans: list[list[int]]):
    """The snippet as rich Text with the query's words in bold."""
    from rich.text import Text

    text = Text(snippet)
    for start, end in spans:
        text.stylize("bold yellow", start, end)
    return text


def reencode(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="Backend to encode with (default: today's default for the model)."),
    space: str = typer.Option("text", "--space", help="The space to encode again."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
) -> None:
    """Encode a space's items again with another backend of its model (e.g. the batch-invariant default)."""
    with open_target(collection, store, readonly=False) as target:
        before = target.space(space).encoder_info.get("backend")
        with progress_bar("encoding", quiet or json_output) as progress:
            count = target.reencode(space, backend=backend, progress=progress)
        after = target.space(space).encoder_info.get("backend")
    summary = {"collection": str(collection), "space": space, "from_backend": before, "to_backend": after, "items": count}
    if json_output:
        print_json(summary)
    else:
        console().print(f"{collection}: space {space!r} re-encoded, {count} items: {before} -> {after}", highlight=False)
