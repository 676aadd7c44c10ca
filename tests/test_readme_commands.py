"""Every `densekit ...` line in the README's code blocks runs on small data, read from the README
itself so that an edit to it is tested too: each must exit 0 without a traceback, or, when it needs
a model that is not on this machine (CLIP weights, a QA reader, a reranker), print the two-line
missing-model message (what is missing; fix: how to get it) and exit 2.

How a line becomes commands: several `densekit` commands on one line are split; `a|b|c` gives one
command each; an optional `[...]` group gives the command without it and with it; a lone `...` is
dropped (or replaced by EXAMPLE_ARGUMENTS for a command that has no other arguments); upper-case
placeholders (READER, ID..., P.jsonl) become the small files made here (PLACEHOLDERS; a new one
fails the test until it is added); `~` is expanded as a shell would. Commands run in the README's
order in one folder, in-process through the console script's own `main()` (densekit.testing.cli),
except `serve`, which runs as a real server process. Heavier commands (ONNX export benchmarks, the
server, PostgreSQL) are in the test marked slow.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from densekit.testing.cli import run_cli

README = Path(__file__).resolve().parents[1] / "README.md"

#: Arguments for a README command written only as `...` (the line names the subcommands, not their arguments).
EXAMPLE_ARGUMENTS = {
    ("words", "similar"): ["w2v.model", "monday", "-k", "3"],
    ("words", "odd-one-out"): ["glove-6b-50d", "monday", "tuesday", "friday", "banana"],
    ("words", "evaluate"): ["w2v.model"],
    ("words", "plot"): ["glove-6b-50d", "monday", "tuesday", "january", "march", "-o", "days.png"],
}
SLOW = {("bench", "encode"), ("serve",), ("train", "reranker")}
#: Commands that need the PostgreSQL server (slow test).
POSTGRES = "postgresql://me@db/search"


def command_lines(text: str) -> list[tuple[int, str]]:
    """(README line number, command) for each `densekit ...` in a non-Python code block."""
    found, inside, language = [], False, ""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            inside, language = not inside, line[3:].strip()
            continue
        if not inside or language == "python" or not line.startswith("densekit "):
            continue
        for command in re.split(r"\s{2,}(?=densekit )", line):
            found.append((number, command.strip()))
    return found


def variants(command: str) -> list[str]:
    """The command without and with its optional [...] groups, and once per `a|b` alternative."""
    groups = re.findall(r"\[([^\]]*)\]", command)
    results = [re.sub(r"\s*\[[^\]]*\]", "", command)]
    if groups:
        results.append(re.sub(r"\[([^\]]*)\]", r"\1", command))
    expanded = []
    for result in results:
        words = shlex.split(result, comments=True)
        choices = [word.split("|") if "|" in word and index < 3 else [word] for index, word in enumerate(words)]
        expanded += [shlex.join(combination) for combination in itertools.product(*choices)]
    return expanded


def is_placeholder(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.jsonl|\.\.\.)?", word))


@dataclass
class Workspace:
    folder: Path
    placeholders: dict[str, str]
    postgres: str | None = None

    def arguments(self, command: str) -> list[str]:
        words = shlex.split(command, comments=True)[1:]  # without "densekit"
        command_words = tuple(word for word in words[:2] if not word.startswith("-"))
        if words[-1:] == ["..."] and len(words) <= 3 and command_words in EXAMPLE_ARGUMENTS:
            words = words[:-1] + EXAMPLE_ARGUMENTS[command_words]
        result = []
        for word in words:
            if word == "...":
                continue
            if self.postgres and word.startswith(POSTGRES):
                word = self.postgres + word[len(POSTGRES):].replace("?", "&" if "?" in self.postgres else "?", 1)
            elif word in self.placeholders or is_placeholder(word):
                assert word in self.placeholders, f"the README uses the placeholder {word!r}: add a file for it to PLACEHOLDERS"
                word = self.placeholders[word]
            result.append(os.path.expanduser(word))
        return result


def _write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


PASSAGES = [
    {"id": "boston", "text": "Seiji Ozawa conducted the Boston Symphony Orchestra for 29 years.", "title": "Ozawa"},
    {"id": "canberra", "text": "Canberra is the capital city of Australia, chosen as a compromise."},
    {"id": "dune", "text": "Dune is a 1965 science fiction novel by the American author Frank Herbert."},
]
QUESTIONS = [
    {"question": "Who conducted the Boston Symphony?", "answers": ["Seiji Ozawa"], "passage_id": "boston"},
    {"question": "What is the capital of Australia?", "answers": ["Canberra"], "passage_id": "canberra"},
]
ARTICLES = {
    "business/rates.txt": "Interest rates\n\nThe central bank raised interest rates again to slow inflation.",
    "business/shares.txt": "Shares fall\n\nShares fell after the bank raised rates by half a point.",
    "sport/final.txt": "Cup final\n\nThe home side won the cup final with a late goal.",
    "tech/phones.txt": "New phones\n\nPhone makers showed folding screens at the trade fair.",
}
CORPUS_SENTENCES = [
    "on monday and tuesday the market was open",
    "on friday and saturday the shop was busy",
    "the king and the queen rode to the castle",
    "a man and a woman walked to the market",
    "in january and march the river was cold",
]


def _picture(path: Path, colour) -> Path:
    from PIL import Image

    Image.new("RGB", (40, 30), colour).save(path)
    return path


def make_workspace(folder: Path, shared_data: Path) -> Workspace:
    """Small files for every placeholder, and the collections later lines read (quoref/, photos/)."""
    (folder / "notes").mkdir()
    (folder / "notes" / "cat.md").write_text("---\ntitle: The cat\n---\nThe cat sat on the mat.\n")
    _write_jsonl(folder / "rows.jsonl", [{"id": "r1", "text": "Rates rose again."}, {"id": "r2", "text": "It rained."}])
    for name, text in ARTICLES.items():
        (folder / "articles" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "articles" / name).write_text(text)
    (folder / "docs").mkdir()
    (folder / "docs" / "a.txt").write_text("A short document for the PostgreSQL store.")
    (folder / "corpus").mkdir()
    (folder / "corpus" / "text.txt").write_text("\n".join(CORPUS_SENTENCES * 40) + "\n")
    home = folder / "home"
    (home / "Pictures").mkdir(parents=True)
    _picture(home / "Pictures" / "red.jpg", (200, 30, 30))
    _picture(folder / "photo.jpg", (30, 30, 200))
    sts = [line for line in (shared_data / "stsb" / "sts-dev.csv").read_text().splitlines()[:40]]
    (folder / "sts-dev.csv").write_text("\n".join(sts) + "\n")
    (folder / "quoref-small").mkdir()
    # Enough passages that each question has BM25 hard negatives for `train reranker`.
    fillers = list(ARTICLES.values()) + CORPUS_SENTENCES
    _write_jsonl(folder / "quoref-small" / "passages.jsonl", [{"id": p["id"], "text": p["text"]} for p in PASSAGES]
                 + [{"id": f"filler-{n}", "text": text} for n, text in enumerate(fillers)])
    _write_jsonl(folder / "quoref-small" / "questions.jsonl", QUESTIONS)
    placeholders = {
        "ID...": "sport/final.txt",
        "NAME": "readme_docs",
        "READER": "distilbert-base-cased-distilled-squad",  # the default reader: missing unless downloaded
        "M": "cross-encoder/ms-marco-MiniLM-L-6-v2",  # the default reranker
        "P.jsonl": _write_jsonl(folder / "pairs.jsonl", [{"question": q["question"], "positive": p["text"]}
                                                         for q, p in zip(QUESTIONS * 2, PASSAGES * 2)]),
        "E.jsonl": _write_jsonl(folder / "examples.jsonl", [{"question": q["question"], "context": p["text"],
                                                            "answers": q["answers"]} for q, p in zip(QUESTIONS, PASSAGES)]),
        "C.jsonl": _write_jsonl(folder / "corpus.jsonl", PASSAGES),
        "Q.jsonl": _write_jsonl(folder / "queries.jsonl", QUESTIONS),
        "P": str(folder / "corpus.jsonl"),
        "Q": str(folder / "queries.jsonl"),
        "../shared/data/stsb/sts-dev.csv": str(folder / "sts-dev.csv"),
        "STSB.csv": str(folder / "sts-dev.csv"),
        "QUOREF/": str(folder / "quoref-small"),
    }
    assert run_cli(["index", "quoref/", "corpus.jsonl", "-m", "hashing:64", "-q"], cwd=folder).code == 0
    return Workspace(folder, placeholders)


def _build_photos(folder: Path) -> None:
    """photos/, indexed with a tiny CLIP of the real architecture (no CLIP weights exist here)."""
    from densekit.testing.tiny_clip import build_tiny_clip

    model = build_tiny_clip(folder / "tiny-clip")
    pictures = folder / "pictures"
    pictures.mkdir()
    _picture(pictures / "green.png", (30, 200, 30))
    assert run_cli(["images", "index", "photos/", pictures, "--model", model, "-q"], cwd=folder).code == 0


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, shared_data):
    folder = tmp_path_factory.mktemp("readme")
    saved = {name: os.environ.get(name) for name in ("DENSEKIT_HOME", "DENSEKIT_MODEL", "DENSEKIT_OFFLINE", "HOME",
                                                      "DENSEKIT_READER")}
    os.environ.update(DENSEKIT_HOME=str(folder / "densekit-home"), DENSEKIT_OFFLINE="1", HOME=str(folder / "home"),
                      DENSEKIT_MODEL="sentence-transformers/all-MiniLM-L6-v2")  # the README's small model, not mpnet
    os.environ.pop("DENSEKIT_READER", None)
    try:
        made = make_workspace(folder, shared_data)
        _build_photos(folder)
        yield made
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)


def missing_model(stderr: str) -> str | None:
    """The model a two-line missing-model message names, else None."""
    lines = stderr.splitlines()
    if len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("fix: ") and "Traceback" not in stderr:
        quoted = re.search(r"'([^']+)' (is not on this machine|does not exist|are )", lines[0])
        return quoted.group(1) if quoted else None
    return None


def commands(slow: bool) -> list[tuple[int, str]]:
    chosen = []
    for number, line in command_lines(README.read_text(encoding="utf-8")):
        for command in variants(line):
            words = tuple(shlex.split(command)[1:3])
            heavy = words[:1] in SLOW or words[:2] in SLOW or POSTGRES in command
            if heavy == slow:
                chosen.append((number, command))
    return chosen


def check_outcome(number: int, command: str, code: int, stdout: str, stderr: str, missing: list[str]) -> None:
    from densekit.models import model_info

    where = f"README line {number}: {command}"
    assert "Traceback" not in stdout + stderr, f"{where}\n{stderr}"
    if code == 0:
        return
    model = missing_model(stderr)
    assert code == 2 and model is not None, f"{where} exited {code}:\n{stderr}"
    # Only a model that really is absent may be reported missing.
    assert model_info(model).found_at is None and not Path(model).exists(), f"{where}: {model!r} is here\n{stderr}"
    missing.append(command)


def test_the_parser_reads_every_form_the_readme_uses():
    line = 'densekit compare "text A" "text B" ["text C" ...]'
    assert variants(line) == ["densekit compare 'text A' 'text B'", "densekit compare 'text A' 'text B' 'text C' ..."]
    assert len(variants("densekit words similar|odd-one-out|evaluate|plot ...     # tables")) == 4
    assert [command for _, command in command_lines("```\ndensekit info n/   densekit check n/   # x\n```\n")] == \
        ["densekit info n/", "densekit check n/   # x"]
    workspace = Workspace(Path("."), {"READER": "r"}, postgres="postgresql://u@h:1/db")
    assert workspace.arguments("densekit ask q/ 'Who?' --reader READER") == ["ask", "q/", "Who?", "--reader", "r"]
    assert workspace.arguments('densekit copy n/ "postgresql://me@db/search?collection=news"')[-1] == \
        "postgresql://u@h:1/db?collection=news"
    with pytest.raises(AssertionError, match="placeholder 'WHAT'"):
        workspace.arguments("densekit info WHAT")


def test_every_readme_command_runs(workspace):
    missing: list[str] = []
    ran = commands(slow=False)
    assert len(ran) > 25
    for number, command in ran:
        run = run_cli(workspace.arguments(command), cwd=workspace.folder)
        check_outcome(number, command, run.code, run.stdout, run.stderr, missing)
    # No reader, reranker or CLIP weights here: those lines must have said how to get them.
    assert any(" ask " in command for command in missing), missing
    assert any("--rerank" in command for command in missing), missing
    assert any("images caption" in command for command in missing), missing


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(workspace: Workspace, number: int, command: str) -> None:
    """Start the server the README line starts, on a free port; it must answer, then stop cleanly."""
    arguments = workspace.arguments(command)
    port = _free_port()
    if "--port" in arguments:
        arguments[arguments.index("--port") + 1] = str(port)
    else:
        arguments += ["--port", str(port)]  # never the shared machine's 8000
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen([sys.executable, "-m", "densekit.cli.main", *arguments], cwd=workspace.folder,
                              env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"README line {number}: {command} stopped:\n{server.stderr.read()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    assert answer.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, f"README line {number}: no answer on port {port}"
                time.sleep(0.5)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/collections/news/search", method="POST",
                                         data=json.dumps({"query": "interest rates", "k": 2}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert json.loads(answer.read())["hits"], command
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=60)
    assert "Traceback" not in stderr, f"README line {number}: {command}\n{stderr}"


@pytest.mark.slow
def test_every_heavy_readme_command_runs(workspace, postgres_url):
    workspace.postgres = postgres_url
    if not (workspace.folder / "news").exists():  # this test alone: the line that builds news/ first
        news = next(command for _, command in commands(slow=False) if command.startswith("densekit index news/"))
        assert run_cli(workspace.arguments(news), cwd=workspace.folder).code == 0
    missing: list[str] = []
    for number, command in commands(slow=True):
        if shlex.split(command)[1] == "serve":
            _serve(workspace, number, command)
            continue
        run = run_cli(workspace.arguments(command), cwd=workspace.folder)
        check_outcome(number, command, run.code, run.stdout, run.stderr, missing)
    assert not missing, missing
