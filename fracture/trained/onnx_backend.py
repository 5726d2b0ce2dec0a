"""ONNX Runtime as a backend: an exported ``model.onnx`` (fp32 or int8) run on the CPU.

The same contract as :class:`fracture.trained.backends.TorchBackend`: normalised images
float32 (N, 3, S, S) in, float64 (N, M) P(fractured) per member out. ``onnxruntime`` is
imported when a backend is built, so the tools that never use it never pay for the import.
"""

import os
from pathlib import Path

import numpy as np
import torch

INPUT_NAME = "images"
OUTPUT_NAME = "probability"  # (N,), the mean over the members
MEMBERS_NAME = "members"  # (N, M); exports from before it existed have only the mean


class OnnxBackend:
    """ONNX Runtime's CPU execution provider over one exported model file.

    Args:
        path: An exported ``model.onnx`` (``fracture-export``), fp32 or int8.
        tta: Average each image's probabilities with its mirror's, as ``TorchBackend`` does.
        threads: Intra-op threads; ``None`` is every core this process may run on.
    """

    name = "onnx"

    def __init__(self, path: str | Path, tta: bool = False, threads: int | None = None):
        import onnxruntime  # here: only backend=onnx needs it

        options = onnxruntime.SessionOptions()
        # One model call at a time, spread over the cores inside each operator: the serving
        # threads take turns at the model, and predict runs one batch after another.
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        outputs = {output.name for output in self.session.get_outputs()}
        self._output = MEMBERS_NAME if MEMBERS_NAME in outputs else OUTPUT_NAME
        self.device = torch.device("cpu")
        self.tta = tta

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.detach().cpu().numpy().astype(np.float32, copy=False)
        probabilities = self._run(pixels)
        if self.tta:
            probabilities = (probabilities + self._run(np.ascontiguousarray(pixels[..., ::-1]))) / 2
        return torch.from_numpy(probabilities)

    def _run(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, S, S) float32 → (N, M) float64; the mean alone is one column."""
        (values,) = self.session.run([self._output], {INPUT_NAME: pixels})
        values = values.astype(np.float64)
        return values if values.ndim == 2 else values[:, None]
