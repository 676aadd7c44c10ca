"""`densekit ask`, `densekit train retriever|reader|reranker|split` and `densekit eval qa`: open-domain QA."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Optional

import typer

from .output import console, print_json, progress_bar
from .store_options import replica_option, store_option

train_app = typer.Typer(help="Train a DPR-style retriever, an extractive reader or a cross-encoder reranker.", no_args_is_help=True)

# Characters of passage shown on each side of a highlighted answer.
CONTEXT_CHARACTERS = 240


def register(app: typer.Typer) -> None:
    from . import eval_command

    app.command("ask")(ask)
    app.add_typer(train_app, name="train")
    eval_command.eval_app.command("qa")(eval_qa)


# --- ask -------------------------------------------------------------------------------------


def highlight(passage: str, start: int, end: int, width: int = CONTEXT_CHARACTERS) -> Any:
    """A rich Text of the passage around [start, end) with the answer in bold on yellow."""
    from rich.text import Text

    first, last = max(0, start - width), min(len(passage), end + width)
    text = Text("…" if first > 0 else "")
    text.append(passage[first:start])
    text.append(passage[start:end], style="bold black on yellow")
    text.append(passage[end:last])
    if last < len(passage):
        text.append("…")
    return text


def ask(
    collection: str = typer.Argument(..., help="Collection folder, or its name with --store."),
    question: str = typer.Argument(..., help="The question."),
    k: int = typer.Option(10, "-k", "--k", help="Passages to retrieve and read."),
    answers: int = typer.Option(1, "--answers", "-n", help="Distinct answers to show."),
    reader: Optional[str] = typer.Option(None, "--reader", "-r", help="Reader model (default: DENSEKIT_READER, else distilbert-base-cased-distilled-squad)."),
    space: Optional[str] = typer.Option(None, "--space", help="Vector space (default: the dual-encoder space if any, else text)."),
    mode: str = typer.Option("dense", "--mode", help="Retrieval: dense, sparse or hybrid."),
    threshold: Optional[float] = typer.Option(None, "--no-answer-threshold", help="Drop spans that beat 'no answer' by less than this (logits)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    store: Optional[str] = store_option(),
    read_replica: Optional[List[str]] = replica_option(),
) -> None:
    """Answer a question from a collection: retrieve passages, read the exact answer span."""
    from ..pipelines.qa import ask as ask_question
    from . import option_checks
    from .store_options import open_target

    option_checks.count(k, "-k")
    option_checks.count(answers, "--answers")
    target = open_target(collection, store, readonly=True, read_replicas=read_replica)
    try:
        found = ask_question(target, question, k=k, answers=answers, reader=reader, space=space, mode=mode,
                             no_answer_threshold=threshold)
    finally:
        target.close()
    if json_output:
        print_json({"question": question, "answers": [answer.as_dict() for answer in found]})
        return
    out = console()
    if not found:
        out.print("[yellow]no answer found[/]")
        return
    from rich.markup import escape

    for rank, answer in enumerate(found, start=1):
        out.print(f"[bold]{rank}. {escape(answer.text)}[/]  score {answer.score:.3f} "
                  f"(reader {answer.reader_score:.3f}, passage {escape(answer.passage_id)}, chars {answer.start}-{answer.end})",
                  highlight=False, markup=True)
        out.print(highlight(answer.passage, answer.start, answer.end))
        out.print()


# --- training --------------------------------------------------------------------------------


@contextlib.contextmanager
def training_bar(description: str, quiet: bool) -> Iterator[tuple[Any, Any]]:
    """Yield (progress, log) callbacks drawing one bar with steps, ETA and the running loss."""
    if quiet:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=None, loss="-", rate="")

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        def log(entry: dict[str, Any]) -> None:
            bar.update(task, loss=f"{entry['loss']:.4f}", rate=f"{entry['examples_per_second']:.2f} ex/s")

        yield progress, log


def _on_interrupt() -> None:
    typer.echo("interrupted: finishing this step, then saving the model so far (Ctrl-C again to quit without saving)",
               err=True)


def _summary(report: Any, json_output: bool, what: str) -> None:
    """Print the report; after Ctrl-C say where the model so far went and exit 130 (interrupted)."""
    if json_output:
        print_json(report.as_dict())
    elif report.interrupted:
        console().print(f"interrupted after step {report.steps}: saved the {what} so far to [bold]{report.out}[/] "
                        f"(continue with --base {report.out})", highlight=False, soft_wrap=True)
    else:
        console().print(f"saved {what} to [bold]{report.out}[/]: {report.steps} steps, {report.examples} examples in "
                        f"{report.seconds:.0f}s ({report.examples_per_second:.2f}/s), final loss {report.final_loss:.4f}",
                        soft_wrap=True)
    if report.interrupted:
        raise typer.Exit(130)


@train_app.command("retriever")
def train_retriever_command(
    pairs: Path = typer.Option(..., "--pairs", help="(question, positive) pairs .jsonl, or a Quoref-layout folder."),
    base: str = typer.Option("all-MiniLM-L6-v2", "--base", help="Sentence-transformers model both towers start from, or a saved retriever to continue."),
    out: Path = typer.Option(..., "--out", help="Folder for the trained retriever."),
    split: str = typer.Option("all", "--split", help="Quoref folders: train, test or all (split by passage)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Pairs per step (in-batch negatives)."),
    epochs: int = typer.Option(1, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop (and save) after this long."),
    learning_rate: float = typer.Option(2e-5, "--learning-rate", "--lr"),
    hard_negatives: str = typer.Option("none", "--hard-negatives", help="none, bm25, question (the question text as a negative) or bm25+question."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N pairs."),
    seed: int = typer.Option(13, "--seed", help="Shuffling and initialisation seed."),
    checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing",
                                       help="Recompute activations in the backward pass: far less memory, ~20% slower."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Train a question encoder and a context encoder contrastively (DPR), save a loadable retriever."""
    from ..train.retriever import load_pairs, train_retriever

    loaded = load_pairs(pairs, split=split)[:limit]
    with training_bar("training retriever", quiet or json_output) as (progress, log):
        report = train_retriever(loaded, base, out, batch_size=batch_size, epochs=epochs, max_steps=max_steps,
                                 max_minutes=max_minutes, learning_rate=learning_rate, hard_negatives=hard_negatives,
                                 seed=seed, gradient_checkpointing=checkpointing, progress=progress, log=log,
                                 on_interrupt=_on_interrupt)
    _summary(report, json_output, "retriever")


@train_app.command("reader")
def train_reader_command(
    examples: Path = typer.Option(..., "--examples", help="(question, context, answers) .jsonl, or a Quoref-layout folder."),
    base: str = typer.Option("all-MiniLM-L6-v2", "--base", help="BERT-style model (or QA model) to fine-tune."),
    out: Path = typer.Option(..., "--out", help="Folder for the trained reader."),
    split: str = typer.Option("all", "--split", help="Quoref folders: train, test or all (split by passage)."),
    batch_size: int = typer.Option(16, "--batch-size", help="Windows per step."),
    epochs: int = typer.Option(1, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop (and save) after this long."),
    learning_rate: float = typer.Option(5e-5, "--learning-rate", "--lr"),
    max_length: int = typer.Option(384, "--max-length", help="Tokens per window (question + passage)."),
    stride: int = typer.Option(128, "--stride", help="Tokens shared by neighbouring windows."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N examples."),
    seed: int = typer.Option(13, "--seed", help="Shuffling seed (change it when continuing from a saved reader)."),
    checkpointing: bool = typer.Option(True, "--gradient-checkpointing/--no-gradient-checkpointing",
                                       help="Recompute activations in the backward pass: far less memory, ~20% slower."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Fine-tune an extractive QA (start/end) head on question/passage/answer examples."""
    from ..train.reader import load_examples, train_reader

    loaded, skipped = load_examples(examples, split=split)
    if skipped and not json_output:
        typer.echo(f"warning: skipped {skipped} examples whose answer is not in the passage", err=True)
    with training_bar("training reader", quiet or json_output) as (progress, log):
        report = train_reader(loaded[:limit], base, out, batch_size=batch_size, epochs=epochs, max_steps=max_steps,
                              max_minutes=max_minutes, learning_rate=learning_rate, max_length=max_length, stride=stride,
                              seed=seed, gradient_checkpointing=checkpointing, progress=progress, log=log,
                              on_interrupt=_on_interrupt)
    report.skipped = skipped
    _summary(report, json_output, "reader")


@train_app.command("reranker")
def train_reranker_command(
    quoref: Optional[Path] = typer.Option(None, "--quoref", help="Quoref-layout folder: questions against BM25 hard-negative chunks."),
    stsb: Optional[Path] = typer.Option(None, "--stsb", help="STS-B file (e.g. sts-train.csv): paraphrases against BM25 hard negatives."),
    base: str = typer.Option("all-MiniLM-L6-v2", "--base", help="BERT-style model to start from, or a saved reranker to continue."),
    out: Path = typer.Option(..., "--out", help="Folder for the trained reranker (then: densekit search ... --rerank FOLDER)."),
    split: str = typer.Option("all", "--split", help="--quoref: train, test or all (split by passage, as densekit train split)."),
    negatives: int = typer.Option(3, "--negatives", help="Hard negatives per query."),
    batch_size: int = typer.Option(8, "--batch-size", help="Queries per step (each with its positive and negatives)."),
    epochs: int = typer.Option(1, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    max_minutes: Optional[float] = typer.Option(None, "--max-minutes", help="Stop (and save) after this long."),
    learning_rate: float = typer.Option(3e-5, "--learning-rate", "--lr"),
    max_length: int = typer.Option(192, "--max-length", help="Tokens per (query, passage) pair."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N queries of each source."),
    seed: int = typer.Option(13, "--seed", help="Shuffling and initialisation seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Fine-tune a cross-encoder reranker on questions (Quoref) and paraphrases (STS-B) with hard negatives."""
    from ..errors import InvalidInputError
    from ..train.reranker import load_tokenizer, paraphrase_examples, quoref_examples, train_reranker

    if quoref is None and stsb is None:
        raise InvalidInputError("give --quoref FOLDER, --stsb FILE or both: the examples to train on")
    examples = []
    if quoref is not None:
        examples += quoref_examples(quoref, load_tokenizer(base), split=split, negatives=negatives, seed=seed)[:limit]
    if stsb is not None:
        examples += paraphrase_examples(stsb, negatives=negatives, seed=seed)[:limit]
    with training_bar("training reranker", quiet or json_output) as (progress, log):
        report = train_reranker(examples, base, out, batch_size=batch_size, epochs=epochs, max_steps=max_steps,
                                max_minutes=max_minutes, learning_rate=learning_rate, max_length=max_length, seed=seed,
                                progress=progress, log=log, on_interrupt=_on_interrupt)
    _summary(report, json_output, "reranker")


@train_app.command("split")
def split_command(
    source: Path = typer.Argument(..., help="Quoref-layout folder (passages.jsonl + questions.jsonl)."),
    out: Path = typer.Argument(..., help="Folder to write train/ and test/ into."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", help="Share of passages in the test side."),
    seed: str = typer.Option("densekit", "--seed", help="Changes the split, deterministically."),
) -> None:
    """Split a Quoref-layout dataset by passage into train/ and test/ (no passage in both)."""
    from ..train.quoref_split import load_quoref, write_split

    written = write_split(source, out, test_fraction=test_fraction, seed=seed)
    for name, folder in written.items():
        data = load_quoref(folder)
        console().print(f"{name}: {len(data.passages)} passages, {len(data.questions)} questions -> {folder}")


# --- eval qa ---------------------------------------------------------------------------------


def eval_qa(
    passages: Path = typer.Option(..., "--passages", help='Passages .jsonl ({"id", "text"}): the whole collection.'),
    questions: Path = typer.Option(..., "--questions", help='Questions .jsonl ({"question", "answers", "passage_id"}).'),
    retriever: str = typer.Option("bm25", "--retriever", help="bm25, a dual retriever (folder or Q+C), or a sentence model."),
    backend: str = typer.Option("st-dual", "--backend", help="For --retriever: st-dual, dpr, or torch (one symmetric model)."),
    reader: Optional[str] = typer.Option(None, "--reader", "-r", help="Reader model; without it only retrieval is measured."),
    reader_k: int = typer.Option(5, "--reader-k", help="Passages read per question end to end."),
    ks: List[int] = typer.Option([1, 5, 20, 100], "--k", help="Recall cut-offs (repeat the option)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N questions."),
    collection: Optional[Path] = typer.Option(None, "--collection", help="Reuse (or create) this collection folder instead of a temporary one."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Retrieval recall@k / MRR@10 against the gold passage, reader EM / F1 (gold passage and end to end)."""
    from ..collection import Collection
    from ..encoders.factory import load_encoder
    from ..encoders.hashing import HashingEncoder
    from ..errors import InvalidInputError
    from ..eval.datasets import load_corpus, load_queries
    from ..eval.qa import build_passage_collection, evaluate_qa
    from ..pipelines.reader import Reader
    from . import option_checks

    # Before the passages are indexed (into --collection, which would be left behind).
    option_checks.count(reader_k, "--reader-k")
    for cutoff in ks:
        option_checks.count(cutoff, "--k")
    option_checks.at_least(limit, 1, "--limit")
    corpus = load_corpus(passages, strict=True)
    queries = load_queries(questions, strict=True).items[:limit]
    texts = {document.id: document.text for document in corpus}
    missing = [query for query in queries if not any(pid in texts for pid in query.relevant)]
    if missing:
        raise InvalidInputError(f"question {missing[0].question!r}: gold passage {missing[0].relevant[0]!r} is not in {passages}")
    sparse = retriever == "bm25"
    with contextlib.ExitStack() as stack:
        if collection is not None and Collection.exists(collection):
            target = stack.enter_context(Collection.open(collection, readonly=True))
        else:
            folder = collection or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="densekit-eval-"))) / "passages"
            # BM25 needs no dense space; a tiny hashing space keeps the collection valid and cheap.
            encoder = HashingEncoder(8) if sparse else load_encoder(retriever, backend=backend)
            with progress_bar("indexing passages", quiet or json_output) as progress:
                built = build_passage_collection(folder, texts, encoder, progress)
            built.close()
            target = stack.enter_context(Collection.open(folder, readonly=True))
        loaded_reader = Reader(reader) if reader else None
        with progress_bar("evaluating", quiet or json_output) as progress:
            result = evaluate_qa(target, queries, texts, reader=loaded_reader, ks=ks, reader_k=reader_k,
                                 mode="sparse" if sparse else "dense", progress=progress)
    result.settings.update(retriever=retriever, backend=None if sparse else backend, reader=reader)
    if json_output:
        print_json(result.as_dict())
        return
    out = console()
    recall = ", ".join(f"R@{k} {value:.3f}" for k, value in result.recall.items())
    out.print(f"{retriever}: {result.questions} questions; {recall}; MRR@10 {result.mrr_at_10:.3f}", highlight=False)
    if loaded_reader is not None:
        out.print(f"reader {reader}: gold passage EM {result.gold_exact_match:.3f} F1 {result.gold_f1:.3f}; "
                  f"end to end (k={reader_k}) EM {result.end_to_end_exact_match:.3f} F1 {result.end_to_end_f1:.3f}",
                  highlight=False)
