"""A trained model, or an ensemble of them, as one thing that turns images into decisions.

``ProbabilityModel`` maps a batch of preprocessed images (N, 3, H, W) to P(fractured) of each
member (N, M); the ensemble's probability is their mean (averaging in probability space).
``Predictor`` adds what using it needs: the shared preprocessing and the decision.
Predict, evaluate, explain, export and serve all start from a ``Predictor``.
"""

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from fracture.data.preprocessing import Preprocessing
from fracture.errors import DataError
from fracture.labels import FRACTURED
from fracture.models.decision import Decision
from fracture.trained.checkpoints import (
    check_threshold,
    load_classifier,
    resolve_checkpoint,
    warn_if_undecided,
)

ENSEMBLE_FORMAT = 1


class ProbabilityModel(nn.Module):
    """Member classifiers with their temperatures: images → P(fractured) per member."""

    def __init__(self, members: list[nn.Module], temperatures: list[float]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("temperatures", torch.tensor(temperatures, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalised images → (N, M) probabilities of *fractured*."""
        columns = [
            torch.softmax(member(images) / t, dim=1)[:, FRACTURED]
            for member, t in zip(self.members, self.temperatures, strict=True)
        ]
        return torch.stack(columns, dim=1)


class MeanProbability(nn.Module):
    """The ensemble's output alone, (N,): what an exported model returns."""

    def __init__(self, model: ProbabilityModel):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images).mean(dim=1)


class EnsembleLogits(nn.Module):
    """Log-probabilities of the ensemble's mean as two-class logits.

    For two classes ``softmax([log(1 - p), log p]) = [1 - p, p]`` and dividing these by a
    temperature acts on ``logit(p)`` exactly as on a single model's logits, so evaluation
    code written for logits serves ensembles unchanged.
    """

    def __init__(self, model: ProbabilityModel, preprocessing: Preprocessing):
        super().__init__()
        self.model = model
        self.preprocessing = preprocessing  # what predict_samples reads the images with

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = self.model(images).mean(dim=1).double().clamp(1e-12, 1 - 1e-12)
        return torch.stack([torch.log1p(-p), torch.log(p)], dim=1)


class Deciding:
    """What predict and serve read of a loaded model whatever runs it (a ``Predictor``, or an
    exported ONNX model): its decision and the files it came from."""

    decision: Decision
    sources: list[Path]

    @property
    def threshold(self) -> float:
        return self.decision.threshold

    @property
    def is_ensemble(self) -> bool:
        return len(self.sources) > 1


@dataclass
class Predictor(Deciding):
    """A ready-to-use model: its members, preprocessing and decision.

    Args:
        model: The members as one module (eval mode, CPU until moved).
        preprocessing: Shared by all members.
        decision: The threshold and class names (members apply their own temperatures).
        sources: The member checkpoint files.
        digest: SHA-256 over the member checkpoints (and the ensemble threshold), naming
            exactly which weights made a prediction.
    """

    model: ProbabilityModel
    preprocessing: Preprocessing
    decision: Decision
    sources: list[Path]
    digest: str

    def with_threshold(self, threshold: float) -> "Predictor":
        return replace(self, decision=replace(self.decision, threshold=float(threshold)))


def load_predictor(spec: str | Path | list) -> Predictor:
    """A checkpoint, a run directory, an ``ensemble.json``, or a list of those (an ensemble).

    A single checkpoint decides at its stored threshold; an ensemble at the threshold of its
    ``ensemble.json`` (chosen on validation by ``fracture-eval``), else 0.5.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    if len(specs) == 1 and str(specs[0]).endswith(".json"):
        return _from_ensemble_file(Path(specs[0]))
    files = [resolve_checkpoint(s) for s in specs]
    members = [load_classifier(f) for f in files]
    preprocessing = _shared_preprocessing(members, files)
    decision = members[0].decision
    if len(members) > 1:  # members keep their temperatures; the mean decides at 0.5
        decision = Decision(class_names=decision.class_names, chosen_by="ensemble default")
    else:
        warn_if_undecided(members[0], files[0])
    temperatures = [m.decision.temperature for m in members]
    model = ProbabilityModel(members, temperatures).eval()
    return Predictor(model, preprocessing, decision, files, _digest(files, decision.threshold))


def _shared_preprocessing(members: list, files: list[Path]) -> Preprocessing:
    """Members must see the same input and name the classes alike; their thresholds and
    temperatures may differ."""
    first = members[0]
    for member, file in zip(members[1:], files[1:], strict=True):
        if member.preprocessing != first.preprocessing:
            raise DataError(
                f"{file} preprocesses differently from {files[0]} ({member.preprocessing} vs "
                f"{first.preprocessing}); an ensemble needs members trained at the same image "
                "size and normalisation"
            )
        if member.decision.class_names != first.decision.class_names:
            raise DataError(
                f"{file} names its classes {list(member.decision.class_names)}, {files[0]} "
                f"{list(first.decision.class_names)}; ensemble members must agree"
            )
    return first.preprocessing


def _digest(files: list[Path], threshold: float) -> str:
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    digest.update(repr(round(threshold, 9)).encode())
    return digest.hexdigest()


def write_ensemble(path: Path, predictor: Predictor, policy: str) -> Path:
    """``ensemble.json``: member checkpoints (absolute paths) and the chosen threshold."""
    record = {
        "format": ENSEMBLE_FORMAT,
        "members": [str(f.resolve()) for f in predictor.sources],
        "threshold": predictor.threshold,
        "policy": policy,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _from_ensemble_file(path: Path) -> Predictor:
    if not path.is_file():
        raise DataError(
            f"ensemble file {path} does not exist; fracture-eval writes one for ckpt=[a,b,...]"
        )
    try:
        record = json.loads(path.read_text())
        members, threshold = record["members"], float(record["threshold"])
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{path} is not an ensemble.json ({type(error).__name__}: {error}); pass one written "
            "by fracture-eval ckpt=[a,b,...], or the checkpoints themselves"
        ) from None
    if not members or not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise DataError(f"{path}: members={members!r} is not a list of checkpoint paths")
    check_threshold(threshold, f"{path} (threshold)")
    predictor = load_predictor(members).with_threshold(threshold)
    predictor = replace(predictor, decision=replace(predictor.decision, chosen_by=f"{path}"))
    return replace(predictor, digest=_digest(predictor.sources, predictor.threshold))
