"""ONNX Runtime backend (fp32 or dynamic int8) for the same sentence-transformers models.

The transformer runs in ONNX Runtime (exported and cached once by ``onnx_export``); tokenisation,
pooling and normalisation are the model's own, read from its sentence-transformers config
(``sentence_bert_config.json``, ``modules.json``, the Pooling module's ``config.json``). Torch is
needed only for the one-time export: encoding from the cache imports onnxruntime and ``tokenizers``,
not torch (MiniLM int8 ready in 1.7 s instead of 22 s on the busy test machine).

Backends: "onnx" (fp32; vectors match torch at cosine >= 0.9999) and "onnx-int8" (about 2-3x
faster on CPU; vectors differ from fp32 ones, so it is a different backend in a collection's
manifest and a space built with one refuses queries from the other).

Threads (measured with benchmarks/onnx_speed.py --sweep-only on the shared 2-core machine, MiniLM
int8, 512 STS-B sentences, medians over 4 fresh processes): 1 thread 656/s; 1 thread + spinning
678/s (1.03x); 2 threads, no spinning 636/s (0.97x; 1.33x in an earlier, busier sweep); 2 threads
+ spinning 340/s (0.52x). So by default idle pool threads sleep (``session.intra_op.allow_spinning=0``;
DENSEKIT_ONNX_SPINNING=1 turns it back on), and intra-op threads default to
``threads.default_threads()`` like torch: DENSEKIT_THREADS, else 1 on <= 2 cores (a second thread
gains nothing reliable there), else half the cores. ``threads=`` / ``spinning=`` override both.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..models import canonical_reference, resolve_model
from ..progress import ProgressCallback
from .base import Encoder, EncoderInfo, check_texts
from .onnx_export import (
    onnx_model_path,
    quantization_settings,
    read_modules,
    require_onnx,
    row_quantization_name,
    transformer_folder,
)
from .threads import default_threads

#: quantize -> backend name. "int8" is ONNX Runtime's dynamic quantisation (one activation scale per
#: batch: vectors depend on batch-mates); "int8-row" scales each token row on its own (row_quantize.py).
QUANTIZATIONS = {None: "onnx", "int8": "onnx-int8", "int8-row": "onnx-int8-row"}
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")


def default_session_settings() -> dict[str, Any]:
    """Intra-op threads and spinning for ONNX Runtime sessions on this machine.

    Threads: ``threads.default_threads()``; spinning off unless DENSEKIT_ONNX_SPINNING=1.

    Example:
        >>> default_session_settings()
        {'threads': 1, 'spinning': False}
    """
    value = os.environ.get("DENSEKIT_ONNX_SPINNING", "")
    return {"threads": default_threads(), "spinning": value not in ("", "0", "false", "False")}


def session_options(threads: int | None = None, spinning: bool | None = None) -> Any:
    """onnxruntime.SessionOptions with densekit's thread settings (arguments override the defaults)."""
    import onnxruntime

    defaults = default_session_settings()
    threads = defaults["threads"] if threads is None else threads
    spinning = defaults["spinning"] if spinning is None else spinning
    if threads < 1:
        raise InvalidInputError(f"threads must be >= 1, got {threads}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads spin-wait by default; on a shared small machine that steals the core the
    # other thread (or process) needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: library code never prints
    return options


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_pipeline(folder: Path) -> dict[str, Any]:
    """Pooling modes, normalisation and sequence settings from a sentence-transformers folder.

    Returns:
        ``{"pooling": ("mean",), "normalize": True, "max_seq_length": 256, "do_lower_case": False}``.

    Raises:
        InvalidInputError: a module the ONNX backend cannot reproduce (e.g. Dense), or an unknown pooling mode.
    """
    pooling: tuple[str, ...] = ("mean",)  # a bare Hugging Face model: sentence-transformers' default
    normalize = False
    for module in read_modules(folder)[1:]:
        kind = str(module.get("type", "")).rsplit(".", 1)[-1]
        if kind not in SUPPORTED_MODULES:
            raise InvalidInputError(
                f"{folder}: sentence-transformers module {module.get('type')!r} is not supported by the ONNX "
                f"backend; supported: {', '.join(SUPPORTED_MODULES)} (use backend 'torch')"
            )
        if kind == "Pooling":
            pooling = _pooling_modes(_read_json(folder / module.get("path", "") / "config.json"))
        elif kind == "Normalize":
            normalize = True
    settings = _read_json(transformer_folder(folder) / "sentence_bert_config.json")
    return {
        "pooling": pooling,
        "normalize": normalize,
        "max_seq_length": settings.get("max_seq_length"),
        "do_lower_case": bool(settings.get("do_lower_case", False)),
    }


def _pooling_modes(pooling_config: dict[str, Any]) -> tuple[str, ...]:
    mode = pooling_config.get("pooling_mode")
    if mode is None:
        modes = tuple(name for key, name in LEGACY_POOLING_KEYS.items() if pooling_config.get(key))
    else:
        modes = (mode,) if isinstance(mode, str) else tuple(mode)
    for name in modes or ("",):
        if name not in POOLING_MODES:
            raise InvalidInputError(f"unknown pooling mode {name!r}; valid: {', '.join(POOLING_MODES)}")
    return modes


def pool(hidden: np.ndarray, mask: np.ndarray, modes: tuple[str, ...]) -> np.ndarray:
    """Pool token vectors (batch, tokens, dim) under an attention mask, as sentence-transformers does.

    Modes are concatenated in order. Padding is on the right (BERT-style tokenizers).

    Example:
        >>> pool(np.ones((1, 3, 2), np.float32), np.array([[1, 1, 0]]), ("mean",))
        array([[1., 1.]], dtype=float32)
    """
    weights = mask.astype(np.float32)[:, :, None]
    outputs = []
    for mode in modes:
        if mode == "cls":
            outputs.append(hidden[:, 0])
        elif mode == "max":
            outputs.append(np.where(weights > 0, hidden, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = np.einsum("btd,bt->bd", hidden, weights[:, :, 0])
            count = np.clip(weights.sum(axis=1), 1e-9, None)
            outputs.append(total / (count if mode == "mean" else np.sqrt(count)))
        elif mode == "weightedmean":
            positions = np.arange(1, hidden.shape[1] + 1, dtype=np.float32)[None, :, None] * weights
            outputs.append((hidden * positions).sum(axis=1) / np.clip(positions.sum(axis=1), 1e-9, None))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            outputs.append(hidden[np.arange(hidden.shape[0]), last])
        else:
            raise InvalidInputError(f"unknown pooling mode {mode!r}; valid: {', '.join(POOLING_MODES)}")
    return np.concatenate(outputs, axis=1).astype(np.float32, copy=False)


class ModelTokenizer:
    """The model's own tokenizer, loaded without torch where it can be.

    A folder with ``tokenizer.json`` (every fast tokenizer saves one) is read with the ``tokenizers``
    library directly: importing transformers also imports torch, seconds and hundreds of MB that
    encoding from a cached ONNX model does not need. Padding and truncation are set here (right
    padding to the batch's longest text, longest-first truncation at ``max_length``), overriding what
    the file holds, exactly as a Hugging Face fast tokenizer called with ``padding=True`` does.
    Other folders fall back to ``transformers.AutoTokenizer``.
    """

    def __init__(self, folder: Path, max_length: int | None = None):
        self.folder = folder
        self.max_length = max_length
        self.fast = None
        self.auto = None
        if (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            self.fast = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self.fast.no_padding()  # padding to the batch's longest is done in batch()
            self.fast.no_truncation()
            # A second copy truncates model inputs (room for special tokens is kept by tokenizers).
            self.truncating = Tokenizer.from_str(self.fast.to_str())
            if max_length is not None:
                self.truncating.enable_truncation(max_length, strategy="longest_first")
            self.pad_id = self._pad_id()
        else:
            from transformers import AutoTokenizer

            self.auto = AutoTokenizer.from_pretrained(str(folder))

    def _pad_id(self) -> int:
        settings = {**_read_json(self.folder / "special_tokens_map.json"), **_read_json(self.folder / "tokenizer_config.json")}
        token = settings.get("pad_token")
        token = token.get("content") if isinstance(token, dict) else token
        found = self.fast.token_to_id(token) if token else None
        return int(found) if found is not None else 0

    def batch(self, texts: list[str]) -> dict[str, np.ndarray]:
        """input_ids, attention_mask, token_type_ids (int64), right-padded to the longest text."""
        if self.auto is not None:
            encoded = self.auto(texts, padding=True, truncation="longest_first", max_length=self.max_length,
                                return_tensors="np")
            return {name: np.asarray(value, dtype=np.int64) for name, value in encoded.items()}
        encodings = self.truncating.encode_batch(texts)
        longest = max(len(encoding.ids) for encoding in encodings)
        shape = (len(encodings), longest)
        ids, mask, types = np.full(shape, self.pad_id, np.int64), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            ids[row, :size], mask[row, :size], types[row, :size] = encoding.ids, encoding.attention_mask, encoding.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def lengths(self, texts: list[str]) -> list[int]:
        """Tokens per text with special tokens, capped at max_length."""
        if not texts:
            return []
        if self.auto is not None:
            encoded = self.auto(list(texts), truncation=self.max_length is not None, max_length=self.max_length, verbose=False)
            return [len(ids) for ids in encoded["input_ids"]]
        return [len(encoding.ids) for encoding in self.truncating.encode_batch(list(texts))]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each token, special tokens excluded, no truncation."""
        if self.auto is not None:
            encoded = self.auto(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
            return [tuple(span) for span in encoded["offset_mapping"]]
        return [tuple(span) for span in self.fast.encode(text, add_special_tokens=False).offsets]


class OnnxEncoder(Encoder):
    """Encode texts with a sentence-transformers model exported to ONNX Runtime (fp32 or int8).

    Args:
        reference: a path, hub name or known short name (see ``models.resolve_model``).
        quantize: None for fp32 (backend "onnx"), "int8-row" for per-token int8 ("onnx-int8-row", the
            default), "int8" for dynamic int8 ("onnx-int8", batch-dependent).
        threads: intra-op threads (default ``default_session_settings()``).
        spinning: let idle pool threads spin-wait (default off; DENSEKIT_ONNX_SPINNING=1).
        progress: ``progress(step, steps)`` during the one-time export/quantisation.

    Example:
        >>> encoder = OnnxEncoder("all-MiniLM-L6-v2", quantize="int8")
        >>> encoder.backend, encoder.encode(["a cat sat"]).shape
        ('onnx-int8', (1, 384))
    """

    #: Long texts go in small batches: 32 passages of 252 tokens make 97 MB of attention scores per
    #: layer, far past the CPU caches. Measured (1 thread, MiniLM, 32 Quoref passages, medians of 3
    #: interleaved rounds, benchmarks/onnx_batching.py): a budget of 2**17 cells
    #: (texts x tokens^2, i.e. 2 such passages, 32 texts of up to 64 tokens) ran passages 1.33x (int8)
    #: and 1.22x (fp32) faster than plain batches of 32, mpnet 1.09x / 1.07x; sentences unchanged
    #: (1.00x); 2**16 and 2**18 within 0.05 of it, 2**19 worse.
    batch_cells = 2**17

    def __init__(
        self,
        reference: str,
        quantize: str | None = None,
        threads: int | None = None,
        spinning: bool | None = None,
        progress: ProgressCallback | None = None,
    ):
        if quantize not in QUANTIZATIONS:
            raise InvalidInputError(f"unknown quantize {quantize!r}; valid: None (fp32), 'int8', 'int8-row'")
        require_onnx()
        import onnxruntime

        self.model_name = canonical_reference(reference)
        self.path = resolve_model(reference)
        self.quantize = quantize
        self.backend = QUANTIZATIONS[quantize]
        self.pipeline = read_pipeline(self.path)
        source = transformer_folder(self.path)
        model_config = _read_json(source / "config.json")
        limit = self.pipeline["max_seq_length"] or min(
            int(_read_json(source / "tokenizer_config.json").get("model_max_length", 512)),
            int(model_config.get("max_position_embeddings", 512)),
        )
        self.max_seq_length = int(limit)
        self.tokenizer = ModelTokenizer(source, self.max_seq_length)
        self.onnx_path = onnx_model_path(self.path, reference, quantize or "fp32", progress)
        self.session = onnxruntime.InferenceSession(
            str(self.onnx_path), session_options(threads, spinning), providers=["CPUExecutionProvider"]
        )
        self.input_names = [node.name for node in self.session.get_inputs()]
        self._local = threading.local()  # per-thread token lengths of the texts being encoded
        hidden = model_config.get("hidden_size") or self.session.get_outputs()[0].shape[-1]
        self.dimension = int(hidden) * len(self.pipeline["pooling"])

    def info(self) -> EncoderInfo:
        extra: dict[str, Any] = {"onnx_file": self.onnx_path.name}
        if self.quantize == "int8":
            extra["quantization"] = quantization_settings()["name"]
        elif self.quantize == "int8-row":
            extra["quantization"] = row_quantization_name()
        return EncoderInfo(model=self.model_name, dimension=self.dimension, backend=self.backend, extra=extra)

    def tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Model inputs for a batch, padded to its longest text and truncated at max_seq_length."""
        if self.pipeline["do_lower_case"]:
            texts = [text.lower() for text in texts]
        encoded = self.tokenizer.batch(texts)
        inputs = {}
        for name in self.input_names:
            if name in encoded:
                inputs[name] = encoded[name].astype(np.int64, copy=False)
            elif name == "token_type_ids":  # the tokenizer makes none: a single segment
                inputs[name] = np.zeros_like(encoded["input_ids"], dtype=np.int64)
            else:
                raise InvalidInputError(f"the ONNX model wants input {name!r}, which the tokenizer does not make")
        return inputs

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Encode texts into a float32 array (len(texts), dimension); see ``Encoder.encode``.

        Batches are sorted by model-token length, not the base's character length: batches of 32
        STS-B sentences hold 97% real tokens instead of 82% (MiniLM tokenizer, 1,024 sentences; 86%
        -> 91% on a mix of sentences and passages). One batched tokenizer call counts them; the
        base class then sorts, batches and restores the input order.

        Example:
            >>> OnnxEncoder("all-MiniLM-L6-v2").encode(["a cat", "a dog"]).shape
            (2, 384)
        """
        items = check_texts(texts)
        self._local.lengths = dict(zip(items, self.tokenizer.lengths(items)))
        try:
            return super().encode(items, batch_size=batch_size, progress=progress, normalize=normalize)
        finally:
            self._local.lengths = None

    def length(self, text: str) -> int:
        """Model tokens in ``text`` (looked up from the batched count ``encode`` made first)."""
        lengths = getattr(self._local, "lengths", None)
        if lengths is not None and text in lengths:
            return lengths[text]
        return self.tokenizer.lengths([text])[0]

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        inputs = self.tokenize(texts)
        (hidden,) = self.session.run(["last_hidden_state"], inputs)
        vectors = pool(hidden, inputs["attention_mask"], self.pipeline["pooling"])
        if self.pipeline["normalize"]:  # the model's own Normalize module (base may normalise again: a no-op)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.maximum(norms, 1e-12)
        return vectors

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of each model token, special tokens excluded, without truncation."""
        return self.tokenizer.spans(text)

    def count_tokens(self, text: str) -> int:
        """Number of model tokens in ``text`` (special tokens excluded, no truncation)."""
        return len(self.tokenizer.spans(text))


def load_onnx_encoder(reference: str, quantize: str | None = None, threads: int | None = None) -> OnnxEncoder:
    """A new OnnxEncoder (the builder of the "onnx", "onnx-int8-row" and "onnx-int8" backends).

    Nothing is cached here: one shared copy per process is ``loaded_models.Models``' job (the
    exported file itself is cached on disk by ``onnx_export``).

    Example:
        >>> load_onnx_encoder("all-MiniLM-L6-v2", "int8-row").backend
        'onnx-int8-row'
    """
    return OnnxEncoder(reference, quantize=quantize, threads=threads)
