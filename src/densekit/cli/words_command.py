"""`densekit words ...`: train word2vec, query neighbours, analogies and the odd one out, evaluate, plot.

VECTORS is a vectors file (gensim native, word2vec text/binary, GloVe text) or the packaged name
glove-6b-50d. Results are printed as tables, or as JSON with --json (docs/cli.md lists the keys);
progress bars go to stderr.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, List, Optional

import typer

from .output import console, print_json, progress_bar

words_app = typer.Typer(
    help="Word vectors: train word2vec, neighbours, analogies, odd one out, evaluation, plots.",
    no_args_is_help=True,
)

VECTORS_HELP = "Vectors file (gensim native, word2vec .vec/.bin, GloVe .txt) or 'glove-6b-50d'."
JSON_HELP = "Print JSON instead of a table."


def _table(title: str, *columns: str):
    """A rich table; columns whose name starts with '>' are right-aligned numbers."""
    from rich.table import Table

    # At least as wide as its title, so a title ("monday - tuesday + friday") never wraps mid-phrase.
    table = Table(title=title, min_width=len(title))
    for column in columns:
        table.add_column(column.lstrip(">"), justify="right" if column.startswith(">") else "left")
    return table


def register(app: typer.Typer) -> None:
    app.add_typer(words_app, name="words")


def _require_words(*modules: str) -> None:
    """gensim (and matplotlib for plots) come with the [words] extra: one line naming it when missing."""
    from ..optional import require

    for module in ("gensim", *modules):
        require(module, extra="words", feature="densekit words")


def _load(vectors: str):
    from ..pipelines.words import load_vectors

    _require_words()

    return load_vectors(vectors)


@contextlib.contextmanager
def _training_bar(quiet: bool) -> Iterator[tuple]:
    """A rich bar over tokens with words/s and the last epoch's loss; (None, None) when quiet."""
    if quiet:
        yield None, None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.text import Text

    def compact(number: float) -> str:
        for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if number >= limit:
                return f"{number / limit:.1f}{suffix}"
        return f"{number:.0f}"

    class WordsColumn(ProgressColumn):
        def render(self, task):
            total = f"/{compact(task.total)}" if task.total else ""
            speed = f" {compact(task.speed)} words/s" if task.speed else ""
            return Text(f"{compact(task.completed)}{total}{speed}", style="cyan")

    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        WordsColumn(),
        TextColumn("{task.fields[loss]}", style="magenta"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("scanning corpus", total=None, loss="")

        def on_progress(done: int, total: Optional[int]) -> None:
            bar.update(task, completed=done, total=total, description="training" if total else "scanning corpus")

        def on_epoch(epoch: int, loss: float) -> None:
            bar.update(task, loss=f"epoch {epoch} loss {loss:,.0f}")

        yield on_progress, on_epoch


@words_app.command("train")
def train(
    corpus: List[Path] = typer.Argument(..., help="Text files, folders (walked for .txt/.md/...) or wiki *.xml.bz2 dumps."),
    out: Path = typer.Option(..., "--out", "-o", help="Native model path; .vec (text) and .bin (binary) are written beside it."),
    cbow: bool = typer.Option(False, "--cbow/--sg", help="Architecture: CBOW, or skip-gram (default)."),
    dimension: int = typer.Option(100, "--dim", help="Vector size."),
    window: int = typer.Option(5, "--window", help="Context words on each side."),
    min_count: int = typer.Option(5, "--min-count", help="Drop words seen fewer times."),
    epochs: int = typer.Option(5, "--epochs", help="Passes over the corpus."),
    phrases: bool = typer.Option(False, "--phrases", help="Learn frequent bigrams first (new_york) and train on them."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Training threads (default: cores, at most 4)."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train word2vec on your own text, streamed from disk, and save it in native, text and binary formats."""
    _require_words()
    from ..pipelines.words import train_word2vec

    with _training_bar(quiet) as (on_progress, on_epoch):
        result = train_word2vec(
            [str(path) for path in corpus],
            out=out,
            architecture="cbow" if cbow else "sg",
            dimension=dimension,
            window=window,
            min_count=min_count,
            epochs=epochs,
            phrases=phrases,
            workers=workers,
            seed=seed,
            progress=on_progress,
            on_epoch=on_epoch,
        )
    summary = result.summary()
    if json_output:
        print_json(summary)
        return
    table = _table(f"word2vec ({summary['architecture']}, {summary['dimension']}-d)", "", ">value")
    table.add_row("vocabulary", f"{summary['vocabulary']:,} words")
    table.add_row("corpus", f"{summary['corpus_words']:,} words in {summary['corpus_sentences']:,} sentences")
    table.add_row("training", f"{summary['epochs']} epochs, {summary['seconds']:.1f} s, {summary['words_per_second']:,} words/s")
    table.add_row("loss per epoch", ", ".join(f"{loss:,.0f}" for loss in summary["epoch_losses"]))
    for kind, path in summary["files"].items():
        table.add_row(f"file ({kind})", path)
    console().print(table)


@words_app.command("similar")
def similar(
    vectors: str = typer.Argument(..., help=VECTORS_HELP),
    word: str = typer.Argument(..., help="The word whose neighbours to list."),
    count: int = typer.Option(10, "-k", "--count", "-n", help="How many neighbours."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The nearest words by cosine similarity."""
    from ..pipelines.words import similar_words

    neighbours = similar_words(_load(vectors), word, n=count)
    if json_output:
        print_json({"word": word, "similar": [{"word": other, "score": round(score, 4)} for other, score in neighbours]})
        return
    table = _table(f"nearest to {word!r}", ">rank", "word", ">cosine")
    for rank, (other, score) in enumerate(neighbours, start=1):
        table.add_row(str(rank), other, f"{score:.3f}")
    console().print(table)


@words_app.command("analogy")
def analogy_command(
    vectors: str = typer.Argument(..., help=VECTORS_HELP),
    expression: List[str] = typer.Argument(..., help="Words joined by + and -, e.g.: king - man + woman"),
    count: int = typer.Option(5, "-k", "--count", "-n", help="How many answers."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Solve an analogy by vector arithmetic: king - man + woman. Input words never appear in the answer."""
    from ..pipelines.words import analogy, parse_expression

    positive, negative = parse_expression(expression)
    answers = analogy(_load(vectors), positive, negative, n=count)
    if json_output:
        print_json(
            {
                "positive": positive,
                "negative": negative,
                "answers": [{"word": word, "score": round(score, 4)} for word, score in answers],
            }
        )
        return
    table = _table(format_expression(positive, negative), ">rank", "word", ">cosine")
    for rank, (word, score) in enumerate(answers, start=1):
        table.add_row(str(rank), word, f"{score:.3f}")
    console().print(table)


def format_expression(positive: List[str], negative: List[str]) -> str:
    """king - man + woman, as the user wrote it (first word, minus terms, then the other plus terms).

    Example:
        >>> format_expression(["king", "woman"], ["man"])
        'king - man + woman'
    """
    text = positive[0]
    text += "".join(f" - {word}" for word in negative)
    text += "".join(f" + {word}" for word in positive[1:])
    return text


@words_app.command("odd-one-out")
def odd_one_out_command(
    vectors: str = typer.Argument(..., help=VECTORS_HELP),
    words: List[str] = typer.Argument(..., help="Three or more words."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Which word does not belong with the others (least similar to their mean)."""
    from ..pipelines.words import odd_one_out

    result = odd_one_out(_load(vectors), words)
    result["similarity_to_mean"] = {word: round(score, 4) for word, score in result["similarity_to_mean"].items()}
    if json_output:
        print_json(result)
        return
    table = _table(f"odd one out: {result['odd']}", "word", ">cosine to the mean", "")
    for word, score in result["similarity_to_mean"].items():
        table.add_row(word, f"{score:.3f}", "<- odd one out" if word == result["odd"] else "")
    console().print(table)


@words_app.command("evaluate")
def evaluate(
    vectors: str = typer.Argument(..., help=VECTORS_HELP),
    analogies: Optional[Path] = typer.Option(None, "--analogies", help="Analogy file (default: gensim's questions-words.txt)."),
    restrict_vocab: int = typer.Option(300_000, "--restrict-vocab", help="Only the most frequent words take part."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Google analogy accuracy per section and in total; Spearman on WordSim-353 and SimLex-999 (gensim's rules)."""
    from ..pipelines.words import evaluate_vectors

    keyed = _load(vectors)
    with progress_bar("analogy questions", quiet or json_output) as progress:
        results = evaluate_vectors(keyed, analogies=analogies, restrict_vocab=restrict_vocab, progress=progress)
    if json_output:
        print_json(_rounded(results))
        return
    output = console()
    analogy_report = results["analogies"]
    table = _table(f"analogies ({analogy_report['skipped']:,} of {analogy_report['questions']:,} questions skipped: "
                   "a word outside the vocabulary)", "section", ">correct", ">asked", ">accuracy")
    for row in [*analogy_report["sections"], analogy_report["total"]]:
        table.add_row(row["section"], f"{row['correct']:,}", f"{row['total']:,}", f"{100 * row['accuracy']:.1f}%")
    output.print(table)
    pairs = _table("word-pair similarity vs human scores", "set", ">Spearman", ">Pearson", ">pairs", ">unknown")
    for name, row in results.items():
        if name != "analogies":
            pairs.add_row(name, _number(row["spearman"]), _number(row["pearson"]), str(row["pairs"]),
                          f"{row['oov_percent']:.1f}%")
    output.print(pairs)


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value


def parse_groups(tokens: List[str]) -> dict[str, list[str]]:
    """Read plot arguments: plain words form the group "words"; "name=w1,w2" or "w1,w2" form groups.

    Example:
        >>> parse_groups(["days=monday,tuesday", "months=may,june"])
        {'days': ['monday', 'tuesday'], 'months': ['may', 'june']}
    """
    groups: dict[str, list[str]] = {}
    for token in tokens:
        if "=" in token or "," in token:
            name, _, members = token.rpartition("=")
            name = name or f"group {len(groups) + 1}"
            groups.setdefault(name, []).extend(word for word in members.split(",") if word)
        else:
            groups.setdefault("words", []).append(token)
    return groups


@words_app.command("plot")
def plot(
    vectors: str = typer.Argument(..., help=VECTORS_HELP),
    words: List[str] = typer.Argument(
        ..., help="Words, or groups coloured apart: days=monday,tuesday months=may,june (or monday,tuesday)."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    three_d: bool = typer.Option(False, "--3d", help="Three dimensions instead of two."),
    method: str = typer.Option("pca", "--method", help="Projection: pca or tsne."),
    html: Optional[Path] = typer.Option(None, "--html", help="Interactive HTML page (default: beside the PNG, .html)."),
    no_html: bool = typer.Option(False, "--no-html", help="Write only the PNG."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON (with every point's coordinates)."),
) -> None:
    """Draw words in 2-D or 3-D (PNG plus an offline HTML page you can rotate), coloured by group."""
    from ..pipelines.words import plot_words

    _require_words("matplotlib", *(["sklearn"] if method == "tsne" else []))
    result = plot_words(
        _load(vectors),
        parse_groups(words),
        out,
        dimensions=3 if three_d else 2,
        method=method,
        html=False if no_html else (html or True),
    )
    if json_output:
        print_json(result)
        return
    groups = len({point["group"] for point in result["points"]})
    written = result["png"] + (f" and {result['html']}" if result["html"] else "")
    console().print(f"wrote {written}: {len(result['points'])} words in {groups} "
                    f"group{'s' if groups != 1 else ''}, {method} {3 if three_d else 2}-D", highlight=False,
                    soft_wrap=True)
