"""Helpers for tests and benchmarks that ship with densekit (so benchmarks work after ``pip install``)."""
