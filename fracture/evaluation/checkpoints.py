"""Finding and loading checkpoints safely, and storing the chosen decision in them."""

import json
from pathlib import Path

import torch

from fracture.errors import DataError
from fracture.models.classifier import CHECKPOINT_KEY, FractureClassifier
from fracture.run_files import METRICS_FILE


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or the best checkpoint of a run directory."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"checkpoint {path} does not exist; pass a .ckpt file or a run directory")
    best = _best_of_run(path)
    if best is None:
        raise DataError(f"run directory {path} holds no checkpoints/best-*.ckpt; pass a .ckpt file")
    return best


def _best_of_run(run_dir: Path) -> Path | None:
    metrics = run_dir / METRICS_FILE
    if metrics.is_file():
        best = json.loads(metrics.read_text()).get("best_checkpoint")
        if best and (run_dir / best).is_file():
            return run_dir / best
    found = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    return found[-1] if found else None


def load_classifier(path: str | Path) -> FractureClassifier:
    """The model of a checkpoint, on the CPU, in eval mode.

    ``weights_only=True``: a checkpoint is data, and loading one never runs code from it.
    """
    try:
        model = FractureClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch/Lightning raise many kinds for a file that is no checkpoint
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise DataError(
            f"{path} is not a fracture checkpoint ({type(error).__name__}: {first_line}); "
            "pass a .ckpt written by fracture-train, or its run directory"
        ) from None
    return model.eval()


def store_decision(path: str | Path, threshold: float, temperature: float | None) -> None:
    """Write the chosen threshold (and temperature) into the checkpoint's preprocessing.

    The file is replaced atomically, so a crash never leaves a half-written checkpoint.
    """
    path = Path(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    preprocessing = checkpoint[CHECKPOINT_KEY]["preprocessing"]
    preprocessing["threshold"] = float(threshold)
    preprocessing["temperature"] = float(temperature) if temperature is not None else 1.0
    partial = path.with_name(f".{path.name}.tmp")
    torch.save(checkpoint, partial)
    partial.replace(path)
