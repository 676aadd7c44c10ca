"""Scaffolding for tests, demos and benchmarks, installed with the package (so ``densekit bench``
and a user's own tests work after ``pip install``), kept out of the product's code paths:

- ``tiny_clip``: a small CLIP of the real architecture, built and trained on this machine;
- ``qa_reference``: the QA reference case (answer versus a copy of the question);
- ``postgres_server``, ``stores``: a throwaway PostgreSQL server and store helpers for tests and benchmarks.

Submodules import their heavy libraries only when called.
"""
