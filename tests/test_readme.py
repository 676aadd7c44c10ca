"""The README's Python snippet runs, and runs again in the same folder (exist_ok + upsert)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.slow
def test_python_snippet_runs_twice(tmp_path):
    (snippet,) = python_snippets()
    script = tmp_path / "snippet.py"
    # Print the last expression's value so the run shows what a reader would see.
    script.write_text(snippet.rstrip() .rsplit("\n", 1)[0] + "\nprint(" + snippet.rstrip().rsplit("\n", 1)[1] + ")\n")
    environment = {**os.environ, "DENSEKIT_HOME": str(tmp_path / "home"), "PYTHONPATH": os.pathsep.join(sys.path)}
    outputs = []
    for _ in range(2):
        completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                                   timeout=600, env=environment)
        assert completed.returncode == 0, completed.stderr
        outputs.append(completed.stdout)
    assert "id='cat'" in outputs[0] and outputs[0] == outputs[1]
