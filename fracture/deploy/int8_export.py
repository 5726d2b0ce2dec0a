"""``fracture-export quantize=int8``: an int8 ``model.onnx`` that passed the accuracy gate.

The fp32 model is exported and verified against PyTorch as usual, quantized with calibration
images from the run's training split, and both are scored on its validation split
(:mod:`fracture.deploy.gate`). Everything happens in a temporary directory; only a model that
passes is moved into ``out_dir``, as ``model.onnx`` (int8) with ``model.json`` saying so in
``"quantization"``, so the directory holds one model and every loader of exports (the README
recipe, ``backend=onnx``) runs it unchanged. A refused model leaves nothing behind.
"""

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fracture.deploy.gate import accuracy_gate
from fracture.deploy.int8 import METHOD, QUANTIZED_OPS, quantize
from fracture.deploy.run_data import calibration_samples, loader, run_data
from fracture.inference.export import FORMATS, export, refuse_earlier_export, write_sidecar
from fracture.trained.loop import numbered, run_batches
from fracture.trained.onnx_backend import OnnxBackend
from fracture.trained.predictor import Predictor

INT8_FILE = "model.int8.onnx"  # in the temporary directory; installed as model.onnx


@dataclass(frozen=True)
class Int8Settings:
    """``calibration_images`` training images; the gate's ``tolerance`` and ``min_agreement``
    (:func:`fracture.deploy.gate.accuracy_gate`)."""

    calibration_images: int = 128
    tolerance: float = 0.005
    min_agreement: float = 0.99


def export_int8(predictor: Predictor, out_dir: Path, opset: int, settings: Int8Settings) -> dict:
    """Write the gated int8 ``model.onnx`` and its ``model.json`` into ``out_dir``.

    Raises:
        ExportError: ``out_dir`` holds an export, the fp32 export failed its check, or the
            int8 model failed the gate; nothing is written into ``out_dir`` then.
    """
    refuse_earlier_export(out_dir)
    datamodule = run_data(predictor)
    train = calibration_samples(datamodule.samples["train"], settings.calibration_images)
    val = datamodule.samples["val"]
    with tempfile.TemporaryDirectory(prefix="fracture-int8-") as staging:
        staging = Path(staging)
        record = export(predictor, staging, "onnx", opset)
        batches = (images.numpy() for images, _ in loader(train, predictor, datamodule))
        quantize(staging / FORMATS["onnx"], staging / INT8_FILE, batches)
        scores = [
            _probabilities(staging / name, loader(val, predictor, datamodule), len(val))
            for name in (FORMATS["onnx"], INT8_FILE)
        ]
        labels = np.array([sample.label for sample in val])
        figures = accuracy_gate(
            *scores, labels, predictor.threshold, settings.tolerance, settings.min_agreement
        )
        record = _int8_record(record, figures, len(train))
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.move(staging / INT8_FILE, out_dir / FORMATS["onnx"])
    write_sidecar(out_dir, record)
    return record


def _probabilities(path: Path, batches, count: int) -> np.ndarray:
    """(N,) P(fractured) of the model at ``path`` (the mean over members)."""
    outputs = run_batches(OnnxBackend(path), numbered(batches), count)
    return outputs.values.mean(dim=1).numpy()


def _int8_record(record: dict, figures: dict, calibration_images: int) -> dict:
    quantization = {
        "dtype": "int8",
        "method": METHOD,
        "quantized_ops": QUANTIZED_OPS,
        "calibration_images": calibration_images,
        "calibration_split": "train",
        "gate_split": "val",
        **figures,
    }
    # The 1e-4 check was of the fp32 model; the int8 model answers to the gate instead.
    verification = {**record["verification"], "of": "the fp32 model, before quantization"}
    return {**record, "verification": verification, "quantization": quantization}
