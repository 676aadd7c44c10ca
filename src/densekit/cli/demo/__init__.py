"""The sections of ``densekit demo``: the six ideas of the talk on dense embeddings, in its order.

Each section module has ``run(show, settings)``: it computes with the real models, prints through
``show`` (a ``Show``), ends with one "what this shows" line, and returns its key figures (the
tests check them).
"""
