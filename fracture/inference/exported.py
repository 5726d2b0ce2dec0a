"""A ``fracture-export`` directory (``model.onnx`` + ``model.json``) as predict and serve use a
:class:`~fracture.trained.predictor.Predictor`: the preprocessing, threshold and class names
come from the sidecar, the weights stay in the ONNX file (there is no PyTorch model)."""

import json
from dataclasses import dataclass
from pathlib import Path

from fracture.data.preprocessing import Preprocessing
from fracture.errors import DataError
from fracture.inference.export import SIDECAR
from fracture.models.decision import Decision
from fracture.trained.predictor import Deciding


@dataclass
class ExportedModel(Deciding):
    """An exported ONNX model and what deciding with it needs.

    Args:
        file: The ONNX file (``model.onnx``, fp32 or int8).
        preprocessing: As the exported checkpoint(s) stored it.
        decision: The exported threshold and class names (temperatures are in the model).
        sources: The member checkpoints it was exported from (their paths when exported).
        digest: The exported predictor's digest: the same weights give the same digest.
        backbones: Each member's backbone name.
        record: The whole sidecar.
    """

    file: Path
    preprocessing: Preprocessing
    decision: Decision
    sources: list[Path]
    digest: str
    backbones: list[str]
    record: dict
    model = None  # no PyTorch module: Grad-CAM and anything needing gradients is unavailable


def is_export_dir(spec) -> bool:
    """Whether ``spec`` names a directory holding a ``fracture-export`` sidecar."""
    return isinstance(spec, str | Path) and (Path(spec) / SIDECAR).is_file()


def load_exported(directory: str | Path) -> ExportedModel:
    """The ONNX export in ``directory``.

    Raises:
        DataError: No ``model.json``, one that is not a sidecar, or an export that is not ONNX.
    """
    directory = Path(directory)
    try:
        record = json.loads((directory / SIDECAR).read_text())
        file, fmt = directory / record["file"], record["format"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{directory / SIDECAR} is not a fracture-export sidecar ({type(error).__name__}: "
            f"{error}); export the checkpoint again with fracture-export"
        ) from None
    if fmt != "onnx" or not file.is_file():
        raise DataError(
            f"{directory} holds no ONNX model (format={fmt!r}, {file.name} "
            f"{'present' if file.is_file() else 'missing'}); export it with format=onnx"
        )
    return ExportedModel(
        file=file,
        preprocessing=_preprocessing(record),
        decision=_decision(record, directory),
        sources=[Path(source) for source in record["sources"]],
        digest=record["digest"],
        backbones=list(record.get("backbones") or ["unknown"] * len(record["sources"])),
        record=record,
    )


def _preprocessing(record: dict) -> Preprocessing:
    return Preprocessing(
        image_size=record["image_size"],
        resize_size=record["resize_size"],
        mean=tuple(record["mean"]),
        std=tuple(record["std"]),
        fit=record["fit"],
    )


def _decision(record: dict, directory: Path) -> Decision:
    # One temperature is the checkpoint's own (already inside the model); an ensemble's
    # members carry theirs, and the ensemble reports 1.0, as load_predictor does.
    temperatures = record.get("temperatures") or [1.0]
    return Decision(
        threshold=float(record["threshold"]),
        temperature=float(temperatures[0]) if len(temperatures) == 1 else 1.0,
        class_names=tuple(record["class_names"]),
        chosen_by=f"{directory / SIDECAR}",
    )
