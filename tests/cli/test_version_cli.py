"""``densekit --version`` prints the package version (one source: densekit.__version__)."""

import subprocess
import sys
from pathlib import Path

import densekit

DENSEKIT = str(Path(sys.executable).parent / "densekit")


def test_version_subprocess():
    completed = subprocess.run([DENSEKIT, "--version"], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and completed.stdout == f"densekit {densekit.__version__}\n"
    assert completed.stderr == ""
