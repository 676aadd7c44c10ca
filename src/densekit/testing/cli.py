"""Run the densekit command line inside this process exactly as the console script does (the same
``main()``, so the same error translation and exit codes) and collect what it printed.

In-process runs share loaded models and imports, so a test can drive dozens of commands in the
time a handful of subprocesses take. An error ``main()`` does not translate is a bug and propagates
with its traceback, as it would on a terminal.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence
from unittest import mock


@dataclass(frozen=True)
class CliRun:
    """What one command did: its exit code and everything it wrote."""

    code: int
    stdout: str
    stderr: str


def run_cli(arguments: Sequence[object], cwd: str | os.PathLike | None = None) -> CliRun:
    """Run ``densekit ARGUMENTS`` in this process (in ``cwd`` when given) and return what it did.

    Example:
        >>> run_cli(["--version"]).stdout
        'densekit 0.4.0\\n'
    """
    from ..cli.main import main

    stdout, stderr = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with mock.patch.object(sys, "argv", ["densekit", *map(str, arguments)]), redirect_stdout(stdout), \
                redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    finally:
        os.chdir(previous)
    return CliRun(code, stdout.getvalue(), stderr.getvalue())
