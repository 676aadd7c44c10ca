"""Export a sentence-transformers model to ONNX (fp32, optionally int8) once, and cache it.

The exported graph is the model's transformer only (inputs ``input_ids``, ``attention_mask`` and,
for BERT-like models, ``token_type_ids``; output ``last_hidden_state``). Pooling and normalisation
stay outside, in ``onnx.py``, read from the model's own sentence-transformers config.

Cache layout, under ``config.home()/onnx``::

    <org__name>-<source hash>/model.onnx                fp32, torch.onnx.export
    <org__name>-<source hash>/model-int8-<config>.onnx  dynamic int8 for this CPU's instruction set
    <org__name>-<source hash>/export.json               what was exported, from where, with which versions

The source hash covers the files the export reads (weights, configs, tokenizer), so an edited or
fine-tuned model gets a new entry instead of a stale one. Building is safe under concurrent first use:
one process builds under a file lock, into a temporary folder (or file) that is renamed into place
atomically, so other processes wait for the lock and then see a complete model or nothing.

Quantisation (measured here, shared/MODELS.md): ``quantize_dynamic`` on MatMul only, per-channel
int8 weights (per-tensor wrecked mpnet: minimum cosine to fp32 0.477), ``reduce_range`` off on CPUs
with VNNI (AVX512-VNNI / AVX-VNNI, whose u8 x s8 dot products cannot saturate) and on ARM, on for
other x86 CPUs, where ONNX Runtime's own guidance is 7-bit weights to avoid saturation.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from .. import config
from ..errors import InvalidInputError, MissingDependencyError
from ..progress import ProgressCallback, report

OPSET = 17
#: File suffixes the export depends on (weights, configs, tokenizer); other files (README, other
#: runtimes' exports such as onnx/ or openvino/ subfolders) do not change the result.
SOURCE_SUFFIXES = (".json", ".txt", ".safetensors", ".bin", ".model")
PRECISIONS = ("fp32", "int8", "int8-row")

# (path, size, mtime_ns) of every hashed file -> hash: hashing mpnet's 438 MB once per process is enough.
_FINGERPRINTS: dict[tuple, str] = {}


def require_onnx() -> None:
    """Raise MissingDependencyError unless onnxruntime and onnx are importable."""
    import importlib.util

    for package, module in (("onnxruntime", "onnxruntime"), ("onnx", "onnx")):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(package, "the ONNX encoder backend")


def read_modules(folder: Path) -> list[dict[str, Any]]:
    """The model's sentence-transformers module list (modules.json); a bare Hugging Face folder is one Transformer."""
    path = folder / "modules.json"
    if not path.is_file():
        return [{"path": "", "type": "sentence_transformers.models.Transformer"}]
    return json.loads(path.read_text(encoding="utf-8"))


def transformer_folder(folder: Path) -> Path:
    """Where the Hugging Face model of a sentence-transformers folder lives (old models: 0_Transformer/)."""
    modules = read_modules(folder)
    first = modules[0] if modules else {}
    if not str(first.get("type", "")).endswith("Transformer"):
        raise InvalidInputError(
            f"{folder}: first sentence-transformers module is {first.get('type')!r}; "
            "the ONNX backend expects a Transformer module first"
        )
    return folder / first.get("path", "")


def _hashed_files(folder: Path) -> list[Path]:
    roots = {folder} | {folder / module.get("path", "") for module in read_modules(folder)}
    files = {
        file for root in roots if root.is_dir() for file in root.iterdir()
        if file.is_file() and file.suffix in SOURCE_SUFFIXES
    }
    return sorted(files)


def source_fingerprint(folder: Path) -> str:
    """SHA-256 (hex) over the names and contents of the files an export of ``folder`` reads.

    Example:
        >>> len(source_fingerprint(resolve_model("all-MiniLM-L6-v2")))
        64
    """
    files = _hashed_files(folder)
    key = tuple((str(file), file.stat().st_mtime_ns, file.stat().st_size) for file in files)
    if key in _FINGERPRINTS:
        return _FINGERPRINTS[key]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(folder)).encode("utf-8") + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


def cpu_flags() -> set[str]:
    """Instruction-set flags of this CPU (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def quantization_settings(flags: set[str] | None = None, machine: str | None = None) -> dict[str, Any]:
    """The dynamic-quantisation configuration for this CPU.

    Args:
        flags: CPU flags (default: this machine's); machine: ``platform.machine()`` (default: this one).

    Returns:
        ``{"name", "op_types", "per_channel", "reduce_range", "weight_type"}``; ``name`` goes into
        the cached file name, so machines sharing a cache folder never share the wrong variant.

    Example:
        >>> quantization_settings({"avx512_vnni"}, "x86_64")["reduce_range"]
        False
    """
    flags = cpu_flags() if flags is None else flags
    machine = (machine or platform.machine()).lower()
    x86 = machine in ("x86_64", "amd64", "i686", "x86")
    vnni = bool(flags & {"avx512_vnni", "avx_vnni", "avx512vnni"})
    reduce_range = x86 and not vnni
    return {
        "name": "matmul-perchannel-s8" + ("-7bit" if reduce_range else ""),
        "op_types": ["MatMul"],
        "per_channel": True,
        "reduce_range": reduce_range,
        "weight_type": "int8",
    }


def cache_root() -> Path:
    return config.home() / "onnx"


def cache_folder(folder: Path, reference: str) -> Path:
    """The cache folder for one source model: ``home()/onnx/<org__name>-<hash[:16]>``."""
    from ..models import canonical_reference

    slug = canonical_reference(reference).strip("/").replace("/", "__").replace("\\", "__") or "model"
    slug = "".join(character if character.isalnum() or character in "._-" else "_" for character in slug)[-80:]
    return cache_root() / f"{slug}-{source_fingerprint(folder)[:16]}"


def _lock(target: Path):
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(target) + ".lock")


class _TransformerOnly:
    """Builds a torch module that returns only last_hidden_state, called with keyword inputs.

    transformers 5 models take more positional arguments than the three we feed, so the wrapper
    passes them by name; the tracer then sees exactly our inputs.
    """

    @staticmethod
    def build(model: Any, input_names: list[str]) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, *inputs):  # noqa: D401 - torch API
                return self.model(**dict(zip(input_names, inputs)), return_dict=True).last_hidden_state

        return Wrapper().eval()


def export_fp32(folder: Path, destination: Path) -> dict[str, Any]:
    """Export the transformer of a sentence-transformers folder to an fp32 ONNX file.

    Args:
        folder: the model folder (as ``models.resolve_model`` returns it).
        destination: the .onnx file to write.

    Returns:
        ``{"inputs": [...], "output": "last_hidden_state", "opset": 17}``.

    Example:
        >>> export_fp32(Path("all-MiniLM-L6-v2"), Path("/tmp/model.onnx"))["inputs"]
        ['input_ids', 'attention_mask', 'token_type_ids']
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    from .sentence import quiet_transformers

    source = transformer_folder(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    with quiet_transformers():
        # Eager attention traces into plain MatMul/Softmax ops, which quantize_dynamic turns into int8.
        model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()
    # Two texts of different lengths: the example batch has padding, so the traced graph keeps the
    # attention-mask path (a branch taken only for padded batches would otherwise be traced away).
    example = tokenizer(["a short text", "a somewhat longer example text with padding in its batch"],
                        padding=True, return_tensors="pt")
    # Only the inputs both the tokenizer makes and the model takes (mpnet has no token_type_ids).
    parameters = inspect.signature(model.forward).parameters
    takes_any = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values())
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids")
             if name in example and (takes_any or name in parameters)]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    # The tracer warns about every Python branch it freezes; they are expected here, and library
    # code never prints.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _TransformerOnly.build(model, names),
            tuple(example[name] for name in names),
            str(destination),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, matched torch at cosine 1.0000
        )
    return {"inputs": names, "output": "last_hidden_state", "opset": OPSET}


def quantize_int8(source: Path, destination: Path, settings: dict[str, Any]) -> None:
    """Dynamic int8 quantisation of an fp32 ONNX file with ``quantization_settings()``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic logs a "consider pre-processing" warning through logging.warning(), which also
    # installs a stderr handler on an unconfigured root logger: a placeholder handler and a raised
    # level keep it quiet without changing the caller's logging setup.
    root = logging.getLogger()
    level, placeholder = root.level, logging.NullHandler()
    root.addHandler(placeholder)
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(destination),
            op_types_to_quantize=list(settings["op_types"]),
            per_channel=bool(settings["per_channel"]),
            reduce_range=bool(settings["reduce_range"]),
            weight_type=QuantType.QInt8,
        )
    finally:
        root.setLevel(level)
        root.removeHandler(placeholder)


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for package in ("torch", "transformers", "onnx", "onnxruntime"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def _build_fp32(folder: Path, reference: str, target: Path) -> None:
    """Export into a temporary sibling folder, then rename it into place (atomic on one filesystem)."""
    temporary = Path(tempfile.mkdtemp(prefix=".tmp-export-", dir=target.parent))
    try:
        details = export_fp32(folder, temporary / "model.onnx")
        record = {
            "reference": reference,
            "source": str(folder),
            "source_sha256": source_fingerprint(folder),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "versions": _versions(),
            **details,
        }
        (temporary / "export.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.chmod(temporary, 0o755)  # mkdtemp makes it private; the cache is readable like any model folder
        os.rename(temporary, target)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def row_quantization_name(settings: dict[str, Any] | None = None) -> str:
    """The per-row int8 variant's name in its cached file (7-bit weights on x86 without VNNI).

    Example:
        >>> row_quantization_name({"reduce_range": False})
        'row-u8-perchannel-s8'
    """
    settings = quantization_settings() if settings is None else settings
    return "row-u8-perchannel-s8" + ("-7bit" if settings["reduce_range"] else "")


def _build_int8(fp32: Path, target: Path, settings: dict[str, Any], per_row: bool = False) -> None:
    handle, name = tempfile.mkstemp(prefix=".tmp-int8-", suffix=".onnx", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        if per_row:
            from .row_quantize import quantize_rows

            quantize_rows(fp32, temporary, reduce_range=bool(settings["reduce_range"]))
        else:
            quantize_int8(fp32, temporary, settings)
        os.chmod(temporary, 0o644)  # mkstemp makes it private
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def onnx_model_path(
    folder: Path,
    reference: str | None = None,
    precision: str = "fp32",
    progress: ProgressCallback | None = None,
) -> Path:
    """The cached ONNX file for a model folder, exporting (and quantising) it on first use.

    Args:
        folder: the sentence-transformers model folder.
        reference: the name the cache folder is called after (default: the folder's name).
        precision: "fp32", "int8" (dynamic, per-tensor activation scales: batch-dependent) or
            "int8-row" (per-row activation scales: batch-invariant, see ``row_quantize``).
        progress: called as ``progress(steps_done, steps_total)`` while building (export, quantise).

    Returns:
        Path of the .onnx file (complete: written elsewhere and renamed into place).

    Example:
        >>> onnx_model_path(resolve_model("all-MiniLM-L6-v2"), "all-MiniLM-L6-v2", "int8").name
        'model-int8-matmul-perchannel-s8.onnx'
    """
    if precision not in PRECISIONS:
        raise InvalidInputError(f"unknown ONNX precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    require_onnx()
    folder = Path(folder)
    entry = cache_folder(folder, reference or folder.name)
    fp32 = entry / "model.onnx"
    settings = quantization_settings()
    names = {"fp32": "model.onnx", "int8": f"model-int8-{settings['name']}.onnx",
             "int8-row": f"model-int8-{row_quantization_name(settings)}.onnx"}
    target = entry / names[precision]
    if target.is_file():  # fast path: files only ever appear complete
        return target
    steps = 1 if precision == "fp32" else 2
    report(progress, 0, steps)
    with _lock(entry):
        if not fp32.is_file():
            shutil.rmtree(entry, ignore_errors=True)  # a folder left without its model (e.g. a user deleted it)
            _build_fp32(folder, reference or folder.name, entry)
        report(progress, 1, steps)
        if precision != "fp32" and not target.is_file():
            _build_int8(fp32, target, settings, per_row=precision == "int8-row")
        report(progress, steps, steps)
    return target
