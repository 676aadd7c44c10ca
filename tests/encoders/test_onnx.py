"""ONNX Runtime encoder: export, int8, cache, pooling parity, manifest backend checks.

A tiny BERT sentence-transformers model (built here, MiniLM's real vocab) goes through exactly the
code path a user's model takes; one slow test checks the packaged all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from densekit.encoders import onnx_export  # noqa: E402
from densekit.encoders.onnx import OnnxEncoder, pool, read_pipeline  # noqa: E402
from densekit.errors import InvalidInputError, MissingDependencyError, ModelMismatchError  # noqa: E402

TEXTS = [
    "A man is playing a guitar.",
    "Cats sleep most of the day, waking mainly to eat and to watch birds through the window.",
    "Hi",
    "  spaces around  ",
    "The committee postponed its decision until the next quarterly meeting in the spring. " * 6,
    "Rain again.",
]


def build_tiny_model(folder: Path, vocab: Path, pooling: str = "mean", normalize: bool = True) -> Path:
    """A 2-layer, 32-d BERT saved as a sentence-transformers folder (Transformer, Pooling[, Normalize])."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).eval().save_pretrained(folder)
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True).save_pretrained(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir()
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 32, "pooling_mode": pooling}))
    return folder


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory):
    """One DENSEKIT_HOME for this module's exports (exporting takes seconds: share it); module
    scope, so the setting is undone before other modules run."""
    home = tmp_path_factory.mktemp("onnx-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DENSEKIT_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, minilm_path) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-st", minilm_path / "vocab.txt")


@pytest.fixture(scope="session")
def tiny_torch(tiny_model):
    from densekit.encoders.sentence import SentenceEncoder

    return SentenceEncoder(str(tiny_model), threads=1)


@pytest.fixture(scope="module")
def tiny_fp32(tiny_model, onnx_home):
    return OnnxEncoder(str(tiny_model))


@pytest.fixture(scope="module")
def tiny_int8(tiny_model, onnx_home):
    return OnnxEncoder(str(tiny_model), quantize="int8")


def test_fp32_matches_torch_vectors(tiny_fp32, tiny_torch):
    assert tiny_fp32.backend == "onnx" and tiny_fp32.dimension == 32 and tiny_fp32.max_seq_length == 48
    for batch_size in (1, 4):
        ours = tiny_fp32.encode(TEXTS, batch_size=batch_size, normalize=False)
        reference = tiny_torch.encode(TEXTS, batch_size=batch_size, normalize=False)
        np.testing.assert_allclose(ours, reference, atol=2e-5)
    cosines = np.sum(tiny_fp32.encode(TEXTS) * tiny_torch.encode(TEXTS), axis=1)
    assert cosines.min() >= 0.9999


def test_input_order_is_restored(tiny_fp32):
    together = tiny_fp32.encode(TEXTS, batch_size=2)
    one_by_one = np.stack([tiny_fp32.encode_one(text) for text in TEXTS])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_int8_is_a_different_backend_close_to_fp32(tiny_int8, tiny_fp32):
    assert tiny_int8.backend == "onnx-int8"
    assert "int8" in tiny_int8.onnx_path.name and tiny_int8.onnx_path.parent == tiny_fp32.onnx_path.parent
    assert tiny_int8.info().extra["quantization"] == onnx_export.quantization_settings()["name"]
    cosines = np.sum(tiny_int8.encode(TEXTS) * tiny_fp32.encode(TEXTS), axis=1)
    assert cosines.mean() >= 0.95
    assert not np.allclose(tiny_int8.encode(TEXTS), tiny_fp32.encode(TEXTS), atol=1e-6)  # really quantised


def test_cache_is_reused_and_keyed_by_source_hash(tiny_model, tiny_fp32, onnx_home, tmp_path):
    before = tiny_fp32.onnx_path.stat().st_mtime_ns
    again = OnnxEncoder(str(tiny_model))
    assert again.onnx_path == tiny_fp32.onnx_path and again.onnx_path.stat().st_mtime_ns == before
    record = json.loads((tiny_fp32.onnx_path.parent / "export.json").read_text())
    assert record["source_sha256"] == onnx_export.source_fingerprint(tiny_model)
    assert tiny_fp32.onnx_path.parent.name.endswith(record["source_sha256"][:16])
    changed = shutil.copytree(tiny_model, tmp_path / "changed")
    settings = json.loads((changed / "config.json").read_text())
    (changed / "config.json").write_text(json.dumps({**settings, "layer_norm_eps": 1e-6}))
    assert onnx_export.cache_folder(changed, "x").name != onnx_export.cache_folder(tiny_model, "x").name


def test_export_cache_is_safe_under_concurrent_first_use(tiny_model, tmp_path):
    """Two processes ask for the int8 model at once: one builds, both get the same complete file."""
    log, start = tmp_path / "builds.log", tmp_path / "go"
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from densekit.encoders import onnx_export
        def counted(function, name):
            def wrapper(*args, **kwargs):
                with open({str(log)!r}, "a") as handle:
                    handle.write(name + "\\n")
                return function(*args, **kwargs)
            return wrapper
        onnx_export.export_fp32 = counted(onnx_export.export_fp32, "export")
        onnx_export.quantize_int8 = counted(onnx_export.quantize_int8, "quantize")
        while not Path({str(start)!r}).exists():
            time.sleep(0.01)
        print(onnx_export.onnx_model_path(Path({str(tiny_model)!r}), "tiny", "int8"))
    """))
    environment = {**os.environ, "DENSEKIT_HOME": str(tmp_path / "home")}
    workers = [subprocess.Popen([sys.executable, str(script)], env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    start.touch()
    results = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [error for _, error in results]
    paths = {output.strip().splitlines()[-1] for output, _ in results}
    assert len(paths) == 1
    assert sorted(log.read_text().split()) == ["export", "quantize"]
    leftovers = [path.name for path in (tmp_path / "home" / "onnx").rglob(".tmp-*")]
    assert leftovers == []
    import onnxruntime

    assert onnxruntime.InferenceSession(paths.pop()).get_outputs()[0].name == "last_hidden_state"


@pytest.mark.parametrize("mode", ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"])
def test_pooling_matches_sentence_transformers(mode):
    import torch
    from sentence_transformers.sentence_transformer.modules import Pooling

    generator = np.random.default_rng(0)
    hidden = generator.normal(size=(3, 5, 4)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=np.int64)
    features = {"token_embeddings": torch.from_numpy(hidden), "attention_mask": torch.from_numpy(mask)}
    expected = Pooling(4, pooling_mode=mode)(features)["sentence_embedding"].numpy()
    np.testing.assert_allclose(pool(hidden, mask, (mode,)), expected, atol=1e-5)


def test_pipeline_reads_legacy_pooling_keys_and_refuses_unknown_modules(tiny_model, tmp_path):
    folder = shutil.copytree(tiny_model, tmp_path / "legacy")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert read_pipeline(folder)["pooling"] == ("cls",)
    modules = json.loads((folder / "modules.json").read_text())
    modules.append({"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"})
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InvalidInputError, match="Dense.*supported: Transformer, Pooling, Normalize"):
        read_pipeline(folder)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "maxx"}))
    with pytest.raises(InvalidInputError, match="'maxx'; valid: cls, max, mean"):
        read_pipeline(folder)


@pytest.mark.parametrize("flags, machine, reduce_range", [
    ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", False),
    ({"avx2", "avx_vnni"}, "x86_64", False),
    ({"avx2", "avx512f"}, "x86_64", True),
    ({"asimd"}, "aarch64", False),
])
def test_quantization_matches_instruction_set(flags, machine, reduce_range):
    settings = onnx_export.quantization_settings(flags, machine)
    assert settings["reduce_range"] is reduce_range
    assert settings["per_channel"] is True and settings["op_types"] == ["MatMul"]
    assert settings["name"].endswith("-7bit") is reduce_range


def test_bad_arguments_name_the_choices(tiny_model, onnx_home):
    with pytest.raises(InvalidInputError, match="'int4'; valid"):
        OnnxEncoder(str(tiny_model), quantize="int4")
    with pytest.raises(InvalidInputError, match="'fp16'; valid: fp32, int8"):
        onnx_export.onnx_model_path(tiny_model, "tiny", "fp16")
    with pytest.raises(InvalidInputError, match="threads must be >= 1"):
        OnnxEncoder(str(tiny_model), threads=0)


def test_missing_onnxruntime_is_a_clear_error(tiny_model, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime"):
        OnnxEncoder(str(tiny_model))


def test_batches_are_sorted_by_token_length(tiny_fp32, monkeypatch):
    lengths = tiny_fp32.tokenizer.lengths(TEXTS)
    assert max(lengths) == 48 and lengths[2] == 3  # truncated at max_seq_length; [CLS] hi [SEP]
    assert tiny_fp32.length("Hi") == 3
    seen: list[list[str]] = []
    original = tiny_fp32.encode_batch
    monkeypatch.setattr(tiny_fp32, "encode_batch", lambda texts: seen.append(texts) or original(texts))
    tiny_fp32.encode(TEXTS, batch_size=2)
    flat = [len(tiny_fp32.tokenizer.batch([text])["input_ids"][0]) for batch in seen for text in batch]
    assert flat == sorted(flat, reverse=True)


def test_tokenizer_matches_transformers(tiny_fp32, tiny_model):
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(tiny_model))(
        TEXTS, padding=True, truncation="longest_first", max_length=48, return_tensors="np")
    ours = tiny_fp32.tokenizer.batch(TEXTS)
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours[name], reference[name])
    assert tiny_fp32.token_spans("Hello, world") == [(0, 5), (5, 6), (7, 12)]


def test_factory_and_collection_manifest_keep_backends_apart(tiny_model, tiny_int8, tiny_fp32, tiny_torch, tmp_path):
    from densekit.collection import Collection
    from densekit.encoders.factory import load_encoder

    assert load_encoder(str(tiny_model), backend="onnx-int8").backend == "onnx-int8"
    path = tmp_path / "collection"
    with Collection.create(path, encoder=tiny_int8) as collection:
        collection.add(TEXTS, ids=[f"t{number}" for number in range(len(TEXTS))])
    manifest = json.loads((path / "manifest.json").read_text())
    assert json.dumps(manifest).count('"onnx-int8"') >= 1
    for other in (tiny_torch, tiny_fp32):
        with pytest.raises(ModelMismatchError, match="onnx-int8"):
            Collection.open(path, readonly=True, encoder=other)
    with Collection.open(path, readonly=True) as reopened:  # rebuilt from the manifest by load_encoder
        assert reopened.encoder().backend == "onnx-int8"
        assert reopened.search(TEXTS[0], k=1)[0].id == "t0"


@pytest.mark.slow
def test_packaged_minilm_fp32_and_int8(minilm_path, minilm_encoder, onnx_home):
    texts = TEXTS + ["The bees decided to have a mutiny against their queen",
                     "Flying stinging insects rebelled in opposition to the matriarch"]
    reference = minilm_encoder.encode(texts)
    fp32 = OnnxEncoder(str(minilm_path)).encode(texts)
    int8 = OnnxEncoder(str(minilm_path), quantize="int8").encode(texts)
    assert np.sum(fp32 * reference, axis=1).min() >= 0.9999
    assert np.sum(int8 * fp32, axis=1).mean() >= 0.95


def test_folder_without_tokenizer_json_falls_back_to_transformers(tiny_model, tiny_fp32, tmp_path):
    from densekit.encoders.onnx import ModelTokenizer

    folder = shutil.copytree(tiny_model, tmp_path / "no-json")
    (folder / "tokenizer.json").unlink()
    fallback = ModelTokenizer(folder, 48)
    assert fallback.auto is not None
    ours = tiny_fp32.tokenizer.batch(TEXTS)
    for name, values in fallback.batch(TEXTS).items():
        np.testing.assert_array_equal(values, ours[name])
    assert fallback.lengths(TEXTS) == tiny_fp32.tokenizer.lengths(TEXTS)
    assert fallback.spans("Hello, world") == tiny_fp32.token_spans("Hello, world")


def test_encoding_from_the_cache_does_not_import_torch(tiny_model, tiny_int8, onnx_home):
    code = (f"import sys; from densekit.encoders.onnx import OnnxEncoder; "
            f"OnnxEncoder({str(tiny_model)!r}, quantize='int8').encode(['a cat sat']); "
            "print(sorted(name for name in ('torch', 'transformers') if name in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "DENSEKIT_HOME": str(onnx_home)})
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_long_texts_go_in_small_batches_and_keep_their_order(tiny_fp32, monkeypatch):
    """The attention-cell budget splits long texts into small batches (short ones stay 32 a batch),
    and the vectors are those of plain batches, in input order."""
    from densekit.encoders.base import batches

    assert list(batches([0, 1, 2, 3], [300, 200, 10, 10], 32, 90_000)) == [[0], [1, 2], [3]]
    assert list(batches(list(range(5)), [7] * 5, 2, None)) == [[0, 1], [2, 3], [4]]
    texts = [" ".join(["word"] * n) for n in (3, 90, 5, 40, 120, 8, 60)]
    sizes = []
    original = tiny_fp32.encode_batch
    monkeypatch.setattr(tiny_fp32, "encode_batch", lambda batch: sizes.append(len(batch)) or original(batch))
    monkeypatch.setattr(tiny_fp32, "batch_cells", 2_400)
    budgeted = tiny_fp32.encode(texts, batch_size=32)
    # Token lengths 48 (three, truncated at max_seq_length), 42, 10, 7, 5: 48^2 and 42^2 cells fill
    # a batch alone; the three short texts share one.
    assert sizes == [1, 1, 1, 1, 3]
    monkeypatch.setattr(tiny_fp32, "batch_cells", None)
    sizes.clear()
    plain = tiny_fp32.encode(texts, batch_size=32)
    assert sizes == [7]
    np.testing.assert_allclose(budgeted, plain, atol=1e-5)
