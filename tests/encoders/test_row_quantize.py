"""Per-row int8 (backend onnx-int8-row): the graph rewrite's arithmetic, and batch invariance on a
tiny BERT exported through the same code path as a user's model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from densekit.encoders import onnx_export  # noqa: E402
from densekit.encoders.onnx import OnnxEncoder  # noqa: E402
from densekit.encoders.row_quantize import quantize_rows  # noqa: E402

# The tiny BERT builder and texts of test_onnx.py (tests are not a package: loaded by path).
_spec = importlib.util.spec_from_file_location("densekit_test_onnx", Path(__file__).resolve().parent / "test_onnx.py")
_onnx_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_onnx_tests)
TEXTS, build_tiny_model = _onnx_tests.TEXTS, _onnx_tests.build_tiny_model


def single_matmul(folder: Path, weight: np.ndarray, bias: np.ndarray) -> Path:
    """An fp32 ONNX model: y = x @ weight + bias, x of shape (batch, tokens, K)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "weight"], ["product"]), helper.make_node("Add", ["product", "bias"], ["y"])],
        "one-matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", weight.shape[1]])],
        [numpy_helper.from_array(weight, "weight"), numpy_helper.from_array(bias, "bias")],
    )
    path = folder / "matmul.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]


def reference_rows(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, limit: float = 127.0) -> np.ndarray:
    """The documented arithmetic in numpy: per-row activation codes, per-column weight codes."""
    amax = np.maximum(np.abs(x).max(axis=-1, keepdims=True), 1e-12)
    codes = np.round(x * (127.0 / amax))
    column_scale = np.abs(weight).max(axis=0) / limit
    integers = np.clip(np.round(weight / column_scale), -limit, limit)
    return (codes @ integers) * column_scale * (amax / 127.0) + bias


@pytest.fixture()
def one_matmul(tmp_path):
    generator = np.random.default_rng(3)
    weight = generator.normal(size=(48, 24)).astype(np.float32)
    bias = generator.normal(size=24).astype(np.float32)
    return single_matmul(tmp_path, weight, bias), weight, bias


@pytest.mark.parametrize("reduce_range", [False, True])
def test_rewrite_computes_the_documented_arithmetic(one_matmul, tmp_path, reduce_range):
    source, weight, bias = one_matmul
    target = tmp_path / "rows.onnx"
    assert quantize_rows(source, target, reduce_range=reduce_range) == 1
    x = np.random.default_rng(4).normal(size=(3, 5, 48)).astype(np.float32) * np.array([1, 10, 0.01])[:, None, None]
    ours = run(target, x.astype(np.float32))
    expected = reference_rows(x.astype(np.float64), weight, bias, 63.0 if reduce_range else 127.0)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())
    exact = x @ weight + bias
    error = np.abs(ours - exact).max(axis=-1) / np.abs(exact).max(axis=-1)
    assert error.max() < (0.05 if reduce_range else 0.02)  # close to fp32 at every row's own scale


def test_a_row_does_not_depend_on_the_other_rows(one_matmul, tmp_path):
    source, _, _ = one_matmul
    target = tmp_path / "rows.onnx"
    quantize_rows(source, target)
    x = np.random.default_rng(5).normal(size=(2, 4, 48)).astype(np.float32)
    alone = run(target, x[:1, :2])
    louder = x.copy()
    louder[1] *= 1000.0  # a batch-mate with far larger activations
    louder[0, 2:] = 0.0  # and padding-like zero rows beside it
    together = run(target, louder)
    np.testing.assert_array_equal(together[:1, :2], alone)
    assert np.isfinite(together).all()


@pytest.fixture(scope="module")
def tiny_row(tmp_path_factory, minilm_path):
    folder = build_tiny_model(tmp_path_factory.mktemp("tiny-row") / "tiny-st", minilm_path / "vocab.txt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DENSEKIT_HOME", str(tmp_path_factory.mktemp("row-home")))
        yield OnnxEncoder(str(folder), quantize="int8-row"), OnnxEncoder(str(folder))


def test_tiny_bert_row_int8_is_its_own_backend_close_to_fp32(tiny_row):
    import onnx

    row, fp32 = tiny_row
    assert row.backend == "onnx-int8-row"
    assert row.onnx_path.name == f"model-int8-{onnx_export.row_quantization_name()}.onnx"
    assert row.info().extra["quantization"] == onnx_export.row_quantization_name()
    graph = onnx.load(str(row.onnx_path)).graph
    kinds = [node.op_type for node in graph.node]
    # 2 layers x (query, key, value, attention output, two feed-forward) = 12 weight products
    assert kinds.count("MatMulIntegerToFloat") == 12 and kinds.count("MatMul") == 4  # attention stays fp32
    ours, reference = row.encode(TEXTS), fp32.encode(TEXTS)
    assert np.sum(ours * reference, axis=1).min() >= 0.98
    assert not np.allclose(ours, reference, atol=1e-6)  # really quantised


def test_tiny_bert_row_int8_vectors_do_not_depend_on_the_batch(tiny_row):
    row, _ = tiny_row
    alone = np.stack([row.encode([text])[0] for text in TEXTS])
    for batch_size in (2, 3, len(TEXTS)):
        cosines = np.sum(alone * row.encode(TEXTS, batch_size=batch_size), axis=1)
        assert cosines.min() >= 0.9999, batch_size
