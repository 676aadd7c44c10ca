"""Test and benchmark scaffolding lives in densekit.testing, and no product module imports it."""

from __future__ import annotations

import ast
from pathlib import Path

import densekit

#: Modules kept only so older imports keep working (tests, user scripts); nothing else imports them.
SHIMS = {"images/tiny.py"}


def test_no_product_module_imports_the_testing_package():
    root = Path(densekit.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        if relative.startswith("testing/") or relative in SHIMS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and "testing" in node.module.split("."):
                offenders.append(relative)
            elif isinstance(node, ast.Import) and any("densekit.testing" in alias.name for alias in node.names):
                offenders.append(relative)
    assert offenders == []


def test_reference_case_ranks_by_the_question_side():
    from densekit.encoders.hashing import HashingEncoder
    from densekit.testing.qa_reference import REFERENCE_QUESTIONS, reference_case

    class AnswerSide(HashingEncoder):
        """Queries encoded as their answers: a perfect question/passage model."""

        sides = "question-passage"

        def encode_queries(self, texts, batch_size=None, progress=None):
            return self.encode([REFERENCE_QUESTIONS[text] for text in texts])

    assert all(rank.answer_rank == 1 for rank in reference_case(AnswerSide(128)))
    assert all(rank.copy_rank == 1 for rank in reference_case(HashingEncoder(128)))  # symmetric: the copy wins
