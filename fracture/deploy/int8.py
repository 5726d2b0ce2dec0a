"""Static int8 quantization of an exported fp32 ``model.onnx`` with ONNX Runtime.

QDQ format (QuantizeLinear/DequantizeLinear pairs around the quantized operators, which ONNX
Runtime fuses into int8 kernels), weights int8 per output channel, activations uint8 with
ranges from calibration images (MinMax). Only convolutions and matrix products are quantized:
they hold nearly all the compute, while the softmax and the mean over members stay float, so
probabilities are not rounded onto a 1/256 grid right where they meet the threshold.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fracture.trained.onnx_backend import INPUT_NAME

QUANTIZED_OPS = ["Conv", "Gemm", "MatMul"]
METHOD = "onnxruntime quantize_static, QDQ, int8 weights per channel, uint8 activations (MinMax)"


class _Batches:
    """``onnxruntime.quantization.CalibrationDataReader``: one input feed per batch."""

    def __init__(self, batches: Iterable[np.ndarray]):
        self._batches: Iterator[np.ndarray] = iter(batches)

    def get_next(self) -> dict | None:
        batch = next(self._batches, None)
        return None if batch is None else {INPUT_NAME: batch.astype(np.float32)}


def quantize(fp32: Path, int8: Path, calibration: Iterable[np.ndarray]) -> None:
    """Write the int8 model of ``fp32`` to ``int8``, calibrated on ``calibration`` batches
    of normalised images (B, 3, S, S)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8.with_name(f".{int8.name}.prepared")
    try:
        # Shape inference and graph optimisation first (BatchNorm folded into the
        # convolutions), as ONNX Runtime recommends: the quantizer then sees every shape.
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=False)
        quantize_static(
            str(prepared),
            str(int8),
            _Batches(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=QUANTIZED_OPS,
        )
    finally:
        prepared.unlink(missing_ok=True)
