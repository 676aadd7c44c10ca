"""Loading models for training without third-party chatter: library code never prints.

transformers logs a "LOAD REPORT" table (with ANSI colour codes) whenever a checkpoint's weights
do not match the class exactly, which is expected here: a reader starts from a sentence model, so
its start/end head is new and the pooler is unused. The trainers record what they started from
in the saved folder's densekit_*.json instead.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Within the block, transformers logs only errors and draws no progress bars."""
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()
