"""Missing optional packages: one line naming the densekit extra, simulated by None in sys.modules
(as txtai's testoptional does)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from densekit.cli.main import app
from densekit.errors import MissingDependencyError
from densekit.optional import EXTRAS, extra_for, require

PYPROJECT = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("module", "package", "extra"), [
    ("fastapi", "fastapi", "server"), ("python_multipart", "python-multipart", "server"),
    ("psycopg", "psycopg[binary]", "postgres"), ("sklearn", "scikit-learn", "words"), ("gensim", "gensim", "words"),
])
def test_require_names_the_extra(monkeypatch, module, package, extra):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingDependencyError) as caught:
        require(module, feature="the feature")
    assert str(caught.value) == f"the feature needs the package {package!r}: pip install 'densekit[{extra}]'"
    assert "\n" not in str(caught.value) and caught.value.extra == extra


def test_present_module_is_returned():
    assert require("json").dumps([]) == "[]"


def test_every_extra_named_exists_in_pyproject():
    for extra in EXTRAS.values():
        assert f"\n{extra} = [" in PYPROJECT, extra
    assert extra_for("numpy") is None


def test_existing_raise_sites_name_the_extra():
    # Code that raises MissingDependencyError("pgvector", ...) gets the extra without passing it.
    assert "densekit[postgres]" in str(MissingDependencyError("pgvector", "the PostgreSQL store"))
    assert str(MissingDependencyError("faiss-cpu", "FAISS")) == "FAISS needs the package 'faiss-cpu': pip install faiss-cpu"


def test_words_command_without_gensim(monkeypatch):
    monkeypatch.setitem(sys.modules, "gensim", None)
    result = CliRunner().invoke(app, ["words", "similar", "glove-6b-50d", "king"])
    assert isinstance(result.exception, MissingDependencyError)
    assert "pip install 'densekit[words]'" in str(result.exception)


def test_serve_without_fastapi_is_one_line_exit_2():
    script = ("import sys; sys.modules['fastapi'] = None; sys.argv = ['densekit', 'serve']; "
              "from densekit.cli.main import main; main()")
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr == "error: densekit serve needs the package 'fastapi': pip install 'densekit[server]'\n"
