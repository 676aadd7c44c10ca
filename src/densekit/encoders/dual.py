"""Dual (asymmetric) encoders: a question encoder and a context encoder that share one vector space.

``encode(texts)`` is the CONTEXT side (what a collection stores); ``encode_queries(texts)`` is the
QUESTION side (what ``collection.search`` calls for a query). Because the collection picks the side,
a question can never be indexed as a context nor a context searched as a question through the API.

Three kinds, all loaded through ``load_dual_encoder(reference, backend)``:

- ``dpr``: Facebook DPR checkpoints via transformers' ``DPRQuestionEncoder`` / ``DPRContextEncoder``;
  the vector is ``pooler_output`` and scores are raw inner products (not normalised), as in DPR.
- ``st-dual`` with two sentence-transformers models (e.g. the towers ``densekit train retriever`` saves).
- ``st-dual`` with one sentence-transformers model and query / passage prompts (e5, bge style).

A reference is a saved retriever folder (``question_encoder/`` + ``context_encoder/`` +
``densekit_retriever.json``), ``QUESTION+CONTEXT`` (two model references), the short name
``facebook/dpr-single-nq-base`` (the two hub DPR checkpoints), or for ``st-dual`` one model whose
sentence-transformers config defines "query" and "passage"/"document" prompts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..progress import ProgressCallback
from .base import Encoder, EncoderInfo, check_texts
from .threads import configure_torch_threads

RETRIEVER_FILE = "densekit_retriever.json"
QUESTION_FOLDER = "question_encoder"
CONTEXT_FOLDER = "context_encoder"
DPR_HUB_PAIR = "facebook/dpr-single-nq-base"
DPR_HUB_QUESTION = "facebook/dpr-question_encoder-single-nq-base"
DPR_HUB_CONTEXT = "facebook/dpr-ctx_encoder-single-nq-base"
KINDS = ("dpr", "st-dual")
# Prompt names sentence-transformers models use for the passage side.
_PASSAGE_PROMPT_NAMES = ("passage", "document", "doc", "corpus")


def read_retriever_config(folder: Path) -> dict[str, Any] | None:
    """The retriever description in a saved folder, or None when the folder is not a saved retriever."""
    path = Path(folder) / RETRIEVER_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise InvalidInputError(f"{path}: not valid JSON ({error})") from None
    if config.get("kind") not in KINDS:
        raise InvalidInputError(f"{path}: kind {config.get('kind')!r} unknown; valid: {', '.join(KINDS)}")
    return config


class _DprTower:
    """One DPR tower (transformers model + tokenizer); the vector is ``pooler_output``."""

    def __init__(self, folder: Path, side: str, max_length: int):
        from transformers import AutoTokenizer, DPRContextEncoder, DPRQuestionEncoder

        model_class = DPRQuestionEncoder if side == "question" else DPRContextEncoder
        from .sentence import quiet_transformers

        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        with quiet_transformers():
            self.model = model_class.from_pretrained(str(folder)).eval()
        self.max_length = min(max_length, int(self.model.config.max_position_embeddings))
        self.dimension = int(self.model.config.projection_dim or self.model.config.hidden_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        with torch.inference_mode():
            return self.model(**batch).pooler_output.float().numpy()


class _SentenceTower:
    """One sentence-transformers model, optionally with a prompt prepended to every text."""

    def __init__(self, model: Any, prompt: str | None, max_length: int | None):
        self.model = model
        self.prompt = prompt
        if max_length:
            model.max_seq_length = max_length
        self.max_length = model.max_seq_length
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.tokenizer = model.tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        if self.prompt:
            texts = [self.prompt + text for text in texts]
        return self.model.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False, show_progress_bar=False
        )


def load_sentence_model(folder: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    from .sentence import quiet_transformers

    with quiet_transformers():
        return SentenceTransformer(str(folder), device="cpu")




class DualEncoder(Encoder):
    """A question encoder and a context encoder mapping into one vector space.

    ``encode`` embeds contexts (passages) and ``encode_queries`` embeds questions. Build one with
    ``load_dual_encoder`` (or the ``dpr`` / ``st-dual`` backends of ``load_encoder``) rather than
    directly.

    Example:
        >>> retriever = load_dual_encoder("~/retrievers/quoref", backend="st-dual")
        >>> contexts = retriever.encode(["Canberra is the capital city of Australia."])
        >>> question = retriever.encode_queries(["What is the capital city of Australia?"])
        >>> float(question @ contexts.T)
    """

    sides = "question-passage"

    def __init__(self, model_name: str, backend: str, question_tower: Any, context_tower: Any, normalized: bool):
        if backend not in KINDS:
            raise InvalidInputError(f"unknown dual encoder backend {backend!r}; valid: {', '.join(KINDS)}")
        if question_tower.dimension != context_tower.dimension:
            raise InvalidInputError(
                f"question encoder is {question_tower.dimension}-d but context encoder is "
                f"{context_tower.dimension}-d; both towers must share one vector space"
            )
        self.model_name = model_name
        self.backend = backend
        self.question_tower = question_tower
        self.context_tower = context_tower
        self.normalized = normalized
        self.dimension = int(context_tower.dimension)
        self.max_seq_length = context_tower.max_length
        self.default_batch_size = 16

    # --- the context side: what a collection stores ---------------------------------------
    def encode_batch(self, texts: list[str]) -> np.ndarray:
        return self.context_tower.encode(texts)

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray:
        """Encode CONTEXTS (passages) into an (n, dimension) float32 array.

        Args:
            texts: non-empty passage texts.
            batch_size: texts per model call.
            progress: called as ``progress(done, total)``.
            normalize: None keeps the retriever's own convention (DPR: raw inner product).
        """
        return super().encode(texts, batch_size, progress, self.normalized if normalize is None else normalize)

    # --- the question side: what search calls for a query ----------------------------------
    def encode_queries(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool | None = None,
    ) -> np.ndarray:
        """Encode QUESTIONS into vectors comparable (inner product) with ``encode``'s contexts.

        Example:
            >>> retriever.encode_queries(["who wrote Dune?"]).shape
            (1, 384)
        """
        from ..progress import report
        from .base import l2_normalize

        items = check_texts(texts)
        size = batch_size or 32
        output = np.zeros((len(items), self.dimension), dtype=np.float32)
        report(progress, 0, len(items))
        for start in range(0, len(items), size):
            output[start : start + size] = self.question_tower.encode(items[start : start + size])
            report(progress, min(start + size, len(items)), len(items))
        use_normalize = self.normalized if normalize is None else normalize
        return l2_normalize(output) if use_normalize else output

    # --- tokens and description ------------------------------------------------------------
    def token_spans(self, text: str) -> list[tuple[int, int]]:
        encoded = self.context_tower.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(span) for span in encoded["offset_mapping"]]

    def count_tokens(self, text: str) -> int:
        return len(self.token_spans(text))

    def info(self) -> EncoderInfo:
        return EncoderInfo(
            model=self.model_name,
            dimension=self.dimension,
            backend=self.backend,
            metric="ip",
            normalized=self.normalized,
            extra={"dual": True},
        )


# --- loading --------------------------------------------------------------------------------


def _pair(reference: str) -> tuple[str, str] | None:
    if reference == DPR_HUB_PAIR:
        return DPR_HUB_QUESTION, DPR_HUB_CONTEXT
    if "+" in reference and not Path(reference).expanduser().exists():
        question, _, context = reference.partition("+")
        if question.strip() and context.strip():
            return question.strip(), context.strip()
        raise InvalidInputError(f"dual encoder reference {reference!r}: expected QUESTION_MODEL+CONTEXT_MODEL")
    return None


def _load_dpr(reference: str, max_length: int) -> DualEncoder:
    from ..models import resolve_model

    folder = Path(reference).expanduser()
    pair = _pair(reference)
    if pair is not None:
        question, context = resolve_model(pair[0], role="retriever"), resolve_model(pair[1], role="retriever")
    elif read_retriever_config(folder) is not None:
        question, context = folder / QUESTION_FOLDER, folder / CONTEXT_FOLDER
    else:
        raise InvalidInputError(
            f"DPR reference {reference!r}: expected a saved retriever folder (with {RETRIEVER_FILE}), "
            f"QUESTION_MODEL+CONTEXT_MODEL, or {DPR_HUB_PAIR!r}"
        )
    return DualEncoder(
        reference, "dpr", _DprTower(question, "question", max_length), _DprTower(context, "context", max_length), False
    )


def _prompts(model: Any) -> tuple[str | None, str | None]:
    # Recent sentence-transformers give every model empty "query"/"document" prompts: empty means none.
    prompts = {name: text for name, text in (getattr(model, "prompts", None) or {}).items() if text}
    query = prompts.get("query")
    passage = next((prompts[name] for name in _PASSAGE_PROMPT_NAMES if name in prompts), None)
    return query, passage


def _load_sentence_dual(reference: str, max_length: int | None) -> DualEncoder:
    from ..models import resolve_model

    folder = Path(reference).expanduser()
    pair = _pair(reference)
    config = None if pair else read_retriever_config(folder)
    if pair is not None:
        question = _SentenceTower(load_sentence_model(resolve_model(pair[0], role="retriever")), None, max_length)
        context = _SentenceTower(load_sentence_model(resolve_model(pair[1], role="retriever")), None, max_length)
        return DualEncoder(reference, "st-dual", question, context, True)
    if config is not None:
        normalized = bool(config.get("normalize", True))
        if config.get("shared"):  # one model, two prompts
            model = load_sentence_model(folder / config.get("model_folder", CONTEXT_FOLDER))
            question = _SentenceTower(model, config.get("query_prompt"), config.get("max_question_length"))
            context = _SentenceTower(model, config.get("passage_prompt"), max_length or config.get("max_passage_length"))
        else:
            question = _SentenceTower(load_sentence_model(folder / QUESTION_FOLDER), None, config.get("max_question_length"))
            context = _SentenceTower(
                load_sentence_model(folder / CONTEXT_FOLDER), None, max_length or config.get("max_passage_length")
            )
        return DualEncoder(reference, "st-dual", question, context, normalized)
    model = load_sentence_model(resolve_model(reference, role="retriever"))
    query_prompt, passage_prompt = _prompts(model)
    if query_prompt is None:
        raise InvalidInputError(
            f"{reference!r} is one sentence-transformers model without a 'query' prompt, so it is symmetric; "
            "give QUESTION_MODEL+CONTEXT_MODEL, a saved retriever folder, or build one with "
            "DualEncoder via prompt_dual_encoder(model, query_prompt=..., passage_prompt=...)"
        )
    return DualEncoder(
        reference, "st-dual", _SentenceTower(model, query_prompt, None), _SentenceTower(model, passage_prompt, max_length), True
    )


def load_dual_encoder(reference: str, backend: str = "st-dual", max_length: int | None = None, threads: int | None = None) -> DualEncoder:
    """Load a question/context encoder pair.

    Args:
        reference: a saved retriever folder, ``QUESTION+CONTEXT`` model references,
            ``facebook/dpr-single-nq-base``, or (st-dual) one model with query/passage prompts.
        backend: "dpr" (transformers DPR classes) or "st-dual" (sentence-transformers towers).
            A saved folder's own kind wins when it names one.
        max_length: longest context in tokens (default: the model's own; DPR 512).
        threads: torch intra-op threads.

    Returns:
        A DualEncoder (``encode`` = contexts, ``encode_queries`` = questions).

    Example:
        >>> load_dual_encoder("facebook/dpr-single-nq-base", backend="dpr").dimension
        768
    """
    if not isinstance(reference, str) or not reference.strip():
        raise InvalidInputError(f"dual encoder reference must be a non-empty string, got {reference!r}")
    if backend not in KINDS:
        raise InvalidInputError(f"unknown dual encoder backend {backend!r}; valid: {', '.join(KINDS)}")
    configure_torch_threads(threads)
    if Path(reference).expanduser().exists():
        # Absolute, so a collection manifest naming this retriever reopens from any working directory.
        reference = str(Path(reference).expanduser().resolve())
    config = None if _pair(reference) else read_retriever_config(Path(reference).expanduser())
    kind = config["kind"] if config else backend
    if kind == "dpr":
        return _load_dpr(reference, max_length or 512)
    return _load_sentence_dual(reference, max_length)


def prompt_dual_encoder(model_reference: str, query_prompt: str, passage_prompt: str = "", out: str | Path | None = None) -> DualEncoder:
    """One sentence-transformers model used asymmetrically through a query and a passage prompt.

    With ``out``, the pair is saved as a retriever folder (the model copied into it), so a
    collection space built with it can be reopened with ``load_encoder(out, backend="st-dual")``.

    Example:
        >>> prompt_dual_encoder("all-MiniLM-L6-v2", "query: ", "passage: ", out="/tmp/prompted")
    """
    from ..models import resolve_model

    model = load_sentence_model(resolve_model(model_reference))
    if out is None:
        name = f"{model_reference}#query={query_prompt!r}#passage={passage_prompt!r}"
        return DualEncoder(name, "st-dual", _SentenceTower(model, query_prompt, None), _SentenceTower(model, passage_prompt or None, None), True)
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / CONTEXT_FOLDER))
    write_retriever_config(
        folder,
        {"kind": "st-dual", "shared": True, "model_folder": CONTEXT_FOLDER, "query_prompt": query_prompt,
         "passage_prompt": passage_prompt, "normalize": True, "base": model_reference},
    )
    return load_dual_encoder(str(folder), backend="st-dual")


def write_retriever_config(folder: Path, config: dict[str, Any]) -> Path:
    """Write ``densekit_retriever.json`` (the last file a save writes, so its presence means complete)."""
    path = Path(folder) / RETRIEVER_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def dpr_builder(reference: str) -> Encoder:
    """``BACKENDS["dpr"]``: rebuild a DPR pair from a manifest's model reference."""
    return load_dual_encoder(reference, backend="dpr")


def sentence_dual_builder(reference: str) -> Encoder:
    """``BACKENDS["st-dual"]``: rebuild a sentence-transformers pair from a manifest's model reference."""
    return load_dual_encoder(reference, backend="st-dual")
