"""Optional dependencies: which extra of ``pip install densekit[...]`` brings each one.

The core install runs embeddings, collections, search and QA. Heavier features live in extras;
a feature imports its packages through ``require`` so a missing one is a one-line error naming
the extra to install, never a traceback.

Example:
    >>> require("fastapi", extra="server", feature="densekit serve")  # raises MissingDependencyError if absent
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

#: pip package -> the densekit extra that installs it (pyproject.toml's optional-dependencies).
EXTRAS = {
    "fastapi": "server",
    "uvicorn": "server",
    "python-multipart": "server",
    "psycopg": "postgres",
    "psycopg[binary]": "postgres",
    "pgvector": "postgres",
    "gensim": "words",
    "matplotlib": "words",
    "scikit-learn": "words",
    "pyarrow": "words",
}

#: importable module -> pip package, where the two names differ.
PACKAGES = {"sklearn": "scikit-learn", "python_multipart": "python-multipart", "psycopg": "psycopg[binary]"}


def extra_for(package: str) -> str | None:
    """The extra that installs ``package`` (a pip name), or None when it is not in one.

    Example:
        >>> extra_for("gensim")
        'words'
    """
    return EXTRAS.get(package)


def require(module: str, extra: str | None = None, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the package and the extra to install.

    Args:
        module: the importable name ("fastapi", "sklearn").
        extra: the densekit extra that brings it (default: looked up in EXTRAS).
        feature: what needs it, for the message (default: "this feature").

    Example:
        >>> gensim = require("gensim", extra="words", feature="word vectors")
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = PACKAGES.get(module, module)
        raise MissingDependencyError(package, feature or "this feature", extra=extra or extra_for(package)) from error
