"""The library's errors. Core code raises these; only the edges (CLI, HTTP) translate them."""

from __future__ import annotations


class DensekitError(Exception):
    """Base of every error densekit raises on purpose."""


class InvalidInputError(DensekitError, ValueError):
    """A value the caller passed is not acceptable; the message names it and what was expected."""


class ModelNotFoundError(DensekitError):
    """A model reference could not be resolved to local files; the message lists what was tried."""

    def __init__(self, reference: str, tried: list[str]):
        self.reference = reference
        self.tried = tried
        lines = "\n".join(f"  - {place}" for place in tried)
        super().__init__(f"model {reference!r} not found; tried:\n{lines}")


class CollectionError(DensekitError):
    """A collection is missing, corrupt, or used in a way its manifest does not allow."""


class ModelMismatchError(CollectionError):
    """A space was built with one model and is being used with another."""


class CollectionLockedError(CollectionError):
    """Another writer holds the collection."""


class MissingDependencyError(DensekitError, ImportError):
    """An optional package is needed for this feature."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        from .optional import extra_for

        self.package = package
        self.extra = extra or extra_for(package)
        # One line naming what to install: the densekit extra when the package belongs to one.
        fix = f"pip install 'densekit[{self.extra}]'" if self.extra else f"pip install {package}"
        super().__init__(f"{feature} needs the package {package!r}: {fix}")
