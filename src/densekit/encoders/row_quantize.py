"""Batch-invariant int8: per-token (per-row) activation scales, per-column int8 weights.

ONNX Runtime's ``quantize_dynamic`` scales activations once per tensor, i.e. once per batch: a
text's vector then depends on its batch-mates and on padding (mpnet: cosine 0.877 between a text
encoded alone and in a batch). Here every token row of a MatMul input gets its own scale, computed
from that row only, so a row's integer codes, and the whole forward pass, are the same whatever else
is in the batch.

For each MatMul whose weight W (K, N) is a constant, with input x (..., K)::

    amax  = max(|x|, last axis)                      (..., 1)   one scale per token row
    q     = round(x * 127 / amax) + 128  as uint8               zero point 128, a constant scalar
    y     = MatMulIntegerToFloat(q, Wq, 1, w_scale, 128) * amax / 127
    Wq    = round(W / w_scale), w_scale = max(|W|, axis 0) / 127   int8, one scale per output column

A constant scalar zero point keeps ONNX Runtime on its fast u8 x s8 kernel. Inputs shared by several
MatMuls (query, key and value read one LayerNorm output) are quantised once. Attention's
activation-by-activation MatMuls stay fp32 (a few percent of the work on ~250-token passages).

On x86 CPUs without VNNI the u8 x s8 kernel sums pairs of products in int16, which can saturate;
weights are then 7-bit (``reduce_range``), as ONNX Runtime advises for its own quantiser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Guards all-zero rows (their codes are then 128, i.e. zero, whatever the scale).
_TINY = 1e-12


def quantize_weight(matrix: np.ndarray, limit: float = 127.0) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 codes for a (K, N) weight with one scale per output column.

    Example:
        >>> codes, scale = quantize_weight(np.array([[1.0, -4.0], [0.5, 2.0]], np.float32))
        >>> codes.tolist(), np.round(scale.astype(float), 4).tolist()
        ([[127, -127], [64, 64]], [0.0079, 0.0315])
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    scale = (np.maximum(np.abs(matrix).max(axis=0), _TINY) / limit).astype(np.float32)
    codes = np.clip(np.round(matrix / scale), -limit, limit).astype(np.int8)
    return codes, scale


def _row_codes(activation: str, prefix: str) -> tuple[list[Any], str, str]:
    """Nodes that turn ``activation`` (..., K) into uint8 codes (zero point 128) and its row scales
    (..., 1); returns (nodes, codes name, scale name)."""
    from onnx import helper

    codes, scale = f"{prefix}_codes", f"{prefix}_scale"
    nodes = [
        # max |x| per row from two reductions: no |x| copy of the whole activation
        helper.make_node("ReduceMax", [activation], [f"{prefix}_high"], axes=[-1], keepdims=1),
        helper.make_node("ReduceMin", [activation], [f"{prefix}_low"], axes=[-1], keepdims=1),
        helper.make_node("Neg", [f"{prefix}_low"], [f"{prefix}_negated"]),
        helper.make_node("Max", [f"{prefix}_high", f"{prefix}_negated", "rowq_tiny"], [f"{prefix}_amax"]),
        helper.make_node("Div", ["rowq_codes", f"{prefix}_amax"], [f"{prefix}_multiplier"]),
        helper.make_node("Mul", [activation, f"{prefix}_multiplier"], [f"{prefix}_scaled"]),
        # round, + 128, saturate to uint8 in one kernel (scale 1: the row scale is applied above)
        helper.make_node("QuantizeLinear", [f"{prefix}_scaled", "rowq_one", "rowq_zero_point"], [codes]),
        helper.make_node("Mul", [f"{prefix}_amax", "rowq_inverse"], [scale]),
    ]
    return nodes, codes, scale


def quantize_rows(source: Path, destination: Path, reduce_range: bool = False) -> int:
    """Write ``source`` (an fp32 ONNX model) to ``destination`` with per-row int8 MatMuls.

    Args:
        source: fp32 ONNX file (as ``onnx_export.export_fp32`` writes it).
        destination: the file to write.
        reduce_range: 7-bit weights (x86 without VNNI, see the module docstring).

    Returns:
        The number of MatMuls quantised.

    Example:
        >>> quantize_rows(Path("model.onnx"), Path("model-int8-row.onnx"))
        36
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    constants = {tensor.name: tensor for tensor in graph.initializer}
    limit = 63.0 if reduce_range else 127.0
    new_constants = [  # shared by every MatMul
        numpy_helper.from_array(np.array(128, np.uint8), "rowq_zero_point"),
        numpy_helper.from_array(np.array(127.0, np.float32), "rowq_codes"),
        numpy_helper.from_array(np.array(1.0, np.float32), "rowq_one"),
        numpy_helper.from_array(np.array(_TINY, np.float32), "rowq_tiny"),
        numpy_helper.from_array(np.array(1.0 / 127.0, np.float32), "rowq_inverse"),
    ]
    quantised_inputs: dict[str, tuple[str, str]] = {}  # activation name -> (codes, row scale)
    nodes: list[Any] = []
    count = 0
    for node in graph.node:
        weight = constants.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is None or len(weight.dims) != 2:
            nodes.append(node)
            continue
        count += 1
        prefix = f"rowq{count}"
        activation = node.input[0]
        if activation not in quantised_inputs:  # query, key and value share one input: quantised once
            added, codes, scale = _row_codes(activation, prefix)
            nodes += added
            quantised_inputs[activation] = (codes, scale)
        codes, scale = quantised_inputs[activation]
        integers, column_scale = quantize_weight(numpy_helper.to_array(weight), limit)
        new_constants += [
            numpy_helper.from_array(integers, f"{prefix}_weight"),
            numpy_helper.from_array(column_scale, f"{prefix}_weight_scale"),
        ]
        nodes += [
            # ONNX Runtime's MatMulIntegerToFloat: integer product, times a_scale (1) and the column scales
            helper.make_node("MatMulIntegerToFloat", [codes, f"{prefix}_weight", "rowq_one", f"{prefix}_weight_scale",
                             "rowq_zero_point"], [f"{prefix}_columns"], domain="com.microsoft"),
            helper.make_node("Mul", [f"{prefix}_columns", scale], [node.output[0]]),
        ]
    used = {name for node in nodes for name in node.input}
    kept = [tensor for tensor in graph.initializer if tensor.name in used]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + new_constants)
    if not any(entry.domain == "com.microsoft" for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(destination))
    return count
