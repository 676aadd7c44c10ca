"""Quoref layout (``passages.jsonl`` + ``questions.jsonl``) reading and a deterministic split by passage.

The split hashes each passage id (with a seed), so it does not depend on file order and a passage's
questions always land on the same side: no test question is ever asked about a passage seen in
training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

PASSAGES_FILE = "passages.jsonl"
QUESTIONS_FILE = "questions.jsonl"
SPLITS = ("train", "test", "all")


@dataclass
class QuorefData:
    """Passages by id and questions (dicts with question, answers, passage_id)."""

    passages: dict[str, str] = field(default_factory=dict)
    questions: list[dict[str, Any]] = field(default_factory=list)


def is_quoref_folder(path: str | Path) -> bool:
    folder = Path(path).expanduser()
    return folder.is_dir() and (folder / PASSAGES_FILE).is_file() and (folder / QUESTIONS_FILE).is_file()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InvalidInputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise InvalidInputError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    return records


def load_quoref(folder: str | Path) -> QuorefData:
    """Read a Quoref-layout folder; questions whose passage is missing are an error.

    Example:
        >>> data = load_quoref("../shared/data/quoref")
        >>> len(data.passages), len(data.questions)
        (1471, 3302)
    """
    root = Path(folder).expanduser()
    if not is_quoref_folder(root):
        raise InvalidInputError(f"{str(root)!r} is not a Quoref-layout folder; expected {PASSAGES_FILE} and {QUESTIONS_FILE} in it")
    data = QuorefData()
    for number, record in enumerate(_read_jsonl(root / PASSAGES_FILE), start=1):
        if not isinstance(record.get("text"), str) or "id" not in record:
            raise InvalidInputError(f"{root / PASSAGES_FILE}:{number}: expected {{\"id\", \"text\"}}")
        data.passages[str(record["id"])] = record["text"]
    for number, record in enumerate(_read_jsonl(root / QUESTIONS_FILE), start=1):
        passage_id = str(record.get("passage_id"))
        if passage_id not in data.passages:
            raise InvalidInputError(f"{root / QUESTIONS_FILE}:{number}: passage_id {passage_id!r} is not in {PASSAGES_FILE}")
        answers = record.get("answers") or []
        if not isinstance(record.get("question"), str) or not isinstance(answers, list):
            raise InvalidInputError(f"{root / QUESTIONS_FILE}:{number}: expected {{\"question\", \"answers\": [...], \"passage_id\"}}")
        data.questions.append({"question": record["question"], "answers": answers, "passage_id": passage_id})
    return data


def is_test_passage(passage_id: str, test_fraction: float = 0.2, seed: str = "densekit") -> bool:
    """True when the passage belongs to the test side (a stable hash of seed and id)."""
    digest = hashlib.sha256(f"{seed}:{passage_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def split_quoref(data: QuorefData, split: str, test_fraction: float = 0.2, seed: str = "densekit") -> QuorefData:
    """The ``train`` or ``test`` side of a Quoref dataset (``all`` returns it unchanged), split by passage.

    Args:
        data: what ``load_quoref`` read.
        split: "train", "test" or "all".
        test_fraction: share of passages on the test side (0 < fraction < 1).
        seed: changes which passages go where, deterministically.

    Example:
        >>> test = split_quoref(load_quoref("../shared/data/quoref"), "test")
    """
    if split not in SPLITS:
        raise InvalidInputError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if not 0.0 < test_fraction < 1.0:
        raise InvalidInputError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    if split == "all":
        return data
    want_test = split == "test"
    passages = {pid: text for pid, text in data.passages.items() if is_test_passage(pid, test_fraction, seed) == want_test}
    questions = [question for question in data.questions if question["passage_id"] in passages]
    return QuorefData(passages, questions)


def write_quoref(data: QuorefData, folder: str | Path) -> Path:
    """Write a Quoref-layout folder (so a split can be fed to the CLI)."""
    root = Path(folder).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with (root / PASSAGES_FILE).open("w", encoding="utf-8") as stream:
        for passage_id, text in data.passages.items():
            stream.write(json.dumps({"id": passage_id, "text": text}, ensure_ascii=False) + "\n")
    with (root / QUESTIONS_FILE).open("w", encoding="utf-8") as stream:
        for question in data.questions:
            stream.write(json.dumps(question, ensure_ascii=False) + "\n")
    return root


def write_split(folder: str | Path, out: str | Path, test_fraction: float = 0.2, seed: str = "densekit") -> dict[str, Path]:
    """Split a Quoref folder by passage into ``out/train`` and ``out/test`` (both Quoref layout).

    Example:
        >>> write_split("../shared/data/quoref", "/tmp/quoref-split")
        {'train': PosixPath('/tmp/quoref-split/train'), 'test': PosixPath('/tmp/quoref-split/test')}
    """
    data = load_quoref(folder)
    return {
        split: write_quoref(split_quoref(data, split, test_fraction, seed), Path(out) / split) for split in ("train", "test")
    }
