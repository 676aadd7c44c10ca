"""The library's errors. Core code raises these; only the edges (CLI, HTTP) translate them."""

from __future__ import annotations


class DensekitError(Exception):
    """Base of every error densekit raises on purpose."""


class InvalidInputError(DensekitError, ValueError):
    """A value the caller passed is not acceptable; the message names it and what was expected."""


class ModelNotFoundError(DensekitError):
    """A model reference could not be resolved to local files.

    The message is two lines: what is missing, then ``fix: `` and how to get it (trained here or
    downloaded on a connected machine; see missing_models.py). ``tried`` lists every place that was
    searched; ``detailed()`` adds them (the CLI prints that with ``densekit --verbose``).
    """

    def __init__(self, reference: str, tried: list[str], role: str | None = None):
        from . import missing_models

        self.reference = reference
        self.tried = list(tried)
        self.role = missing_models.role_of(reference, role)
        self.summary = missing_models.summary(reference, self.role, self.tried)
        self.fix = missing_models.how_to_fix(reference, self.role)
        super().__init__(f"{self.summary}\nfix: {self.fix}")

    def detailed(self) -> str:
        """The message and every place that was tried, one per line."""
        places = "\n".join(f"  - {place}" for place in self.tried)
        return f"{self}\ntried:\n{places}" if self.tried else str(self)

    def public_message(self) -> str:
        """The two lines without any of this machine's paths (for an HTTP answer)."""
        from . import missing_models

        return (f"{missing_models.summary(self.reference, self.role, self.tried, public=True)}\n"
                f"fix: {missing_models.how_to_fix(self.reference, self.role, public=True)}")


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
