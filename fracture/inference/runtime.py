"""Which runtime runs the model (``backend=torch|onnx``) and what it is loaded from.

``torch`` runs the checkpoint's PyTorch modules (on a GPU too; Grad-CAM works). ``onnx`` runs
an exported model under ONNX Runtime on the CPU: ``ckpt=`` may be a ``fracture-export``
directory, or a checkpoint, run directory or ensemble, which is then exported (and verified
against PyTorch) into a temporary directory first.
"""

import tempfile
from pathlib import Path

import torch

from fracture.errors import ConfigError
from fracture.inference.export import export
from fracture.inference.exported import ExportedModel, is_export_dir, load_exported
from fracture.trained.backends import TorchBackend
from fracture.trained.onnx_backend import OnnxBackend
from fracture.trained.predictor import Predictor, load_predictor

BACKENDS = ("torch", "onnx")
EXPLAIN_NEEDS_TORCH = "Grad-CAM needs PyTorch's gradients, which backend=onnx does not have"


def check_backend(backend: str, device: str = "auto") -> None:
    """A known backend, and no GPU asked of ONNX Runtime (it runs on the CPU here)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "onnx" and device == "cuda":
        raise ConfigError("backend=onnx runs on the CPU; use device=cpu or auto, or backend=torch")


def load_model(spec, backend: str) -> Predictor | ExportedModel:
    """The model of ``ckpt=``: an export directory for ``onnx``, else a predictor."""
    if is_export_dir(spec):
        if backend != "onnx":
            raise ConfigError(
                f"{spec} is a fracture-export directory (ONNX); load it with backend=onnx"
            )
        return load_exported(spec)
    return load_predictor(spec)


def make_backend(model, backend: str, device: str | torch.device, tta: bool):
    """The callable that runs ``model`` (:mod:`fracture.trained.backends`)."""
    if backend == "torch":
        return TorchBackend(model.model, device, tta)
    if isinstance(model, ExportedModel):
        return OnnxBackend(model.file, tta)
    with tempfile.TemporaryDirectory(prefix="fracture-onnx-") as directory:
        export(model, directory, "onnx")
        # The session holds the model in memory: the file is not needed once it is loaded.
        return OnnxBackend(Path(directory) / "model.onnx", tta)
