"""The checkpoint format: finding, validating and loading checkpoints, and writing a run's
trained model.

A checkpoint's ``fracture`` entry holds the preprocessing (how an image becomes the model's
input, fixed when training starts) and the decision (threshold, temperature, class names:
chosen on validation after training) under separate keys (``fracture.models.classifier``).
Lightning's checkpoints of a run (``checkpoints/``) carry the default decision and are never
rewritten; at the end of training :func:`save_trained_model` writes the run's trained model,
``model.ckpt``: the best checkpoint's weights and preprocessing with the chosen decision.
Tools given a run directory load that file.
"""

import json
import logging
import math
from numbers import Real
from pathlib import Path

import torch

from fracture.data.preprocessing import Preprocessing
from fracture.errors import DataError, FractureError
from fracture.models.classifier import CHECKPOINT_KEY, FractureClassifier
from fracture.models.decision import Decision
from fracture.run_files import BEST_CHECKPOINT_GLOB, CHECKPOINT_DIR, METRICS_FILE, MODEL_FILE

log = logging.getLogger(__name__)
CARD_KEY = "card"  # what the trained model says about itself, beside its decision


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory's trained model (``model.ckpt``), else its best
    checkpoint (a run that ended before its evaluation)."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise DataError(f"checkpoint {path} does not exist; pass a .ckpt file or a run directory")
    best = _best_of_run(path)
    if best is None:
        raise DataError(
            f"run directory {path} holds no {CHECKPOINT_DIR}/{BEST_CHECKPOINT_GLOB}; "
            "pass a .ckpt file"
        )
    return best


def _best_of_run(run_dir: Path) -> Path | None:
    if (run_dir / MODEL_FILE).is_file():
        return run_dir / MODEL_FILE
    metrics = run_dir / METRICS_FILE
    if metrics.is_file():
        best = json.loads(metrics.read_text()).get("best_checkpoint")
        if best and (run_dir / best).is_file():
            return run_dir / best
    found = sorted((run_dir / CHECKPOINT_DIR).glob(BEST_CHECKPOINT_GLOB))
    return found[-1] if found else None


def load_classifier(path: str | Path) -> FractureClassifier:
    """The model of a checkpoint, on the CPU, in eval mode.

    ``weights_only=True``: a checkpoint is data, and loading one never runs code from it.
    """
    try:
        model = FractureClassifier.load_from_checkpoint(path, map_location="cpu", weights_only=True)
    except FractureError as error:  # e.g. no `fracture` metadata (FractureClassifier says)
        raise DataError(f"{path}: {error}") from None
    except Exception as error:  # torch/Lightning raise many kinds for a file that is no checkpoint
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise DataError(
            f"{path} is not a fracture checkpoint ({type(error).__name__}: {first_line}); "
            "pass a .ckpt written by fracture-train, or its run directory"
        ) from None
    check_metadata(model.preprocessing, model.decision, path)
    return model.eval()


def check_metadata(preprocessing: Preprocessing, decision: Decision, source: str | Path) -> None:
    """Refuse metadata that would give NaN or nonsense answers: a one-line error naming the
    field and ``source`` (a checkpoint is data that may have been damaged or edited)."""
    problem = _preprocessing_problem(preprocessing) or _decision_problem(decision)
    if problem:
        raise DataError(
            f"{source}: {problem}; the checkpoint's metadata is damaged or edited: use the "
            "checkpoint fracture-train wrote (fracture-eval stores a new threshold)"
        )


def check_threshold(threshold, source: str | Path) -> None:
    """A decision threshold must be a finite probability (see ``_threshold_problem``)."""
    problem = _threshold_problem(threshold)
    if problem:
        raise DataError(f"{source}: {problem}; choose one with fracture-eval")


def _preprocessing_problem(p: Preprocessing) -> str | None:
    for name in ("image_size", "resize_size"):
        value = getattr(p, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return f"{name}={value!r} is not a positive whole number of pixels"
    if len(p.mean) not in (1, 3) or len(p.std) != len(p.mean) or not all(map(_finite, p.mean)):
        return f"mean={list(p.mean)!r}, std={list(p.std)!r} are not 1 or 3 finite numbers each"
    if not all(_finite(s) and s > 0 for s in p.std):
        return f"std={list(p.std)!r} holds a value that is not a positive finite number"
    return None


def _decision_problem(d: Decision) -> str | None:
    if len(d.class_names) != 2 or not all(isinstance(n, str) for n in d.class_names):
        return f"class_names={list(d.class_names)!r} is not two class names"
    if not (_finite(d.temperature) and d.temperature > 0):
        return f"temperature={d.temperature!r} is not a positive finite number"
    return _threshold_problem(d.threshold)


def _threshold_problem(threshold) -> str | None:
    # 1.0 is allowed: a policy picks a validation score, and float32 softmax reaches 1.0
    # exactly on confident cases; 0 would call every image fractured.
    if not (_finite(threshold) and 0 < threshold <= 1):
        return f"threshold={threshold!r} is not a probability in (0, 1]"
    return None


def _finite(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def save_trained_model(
    checkpoint: str | Path, decision: Decision, card: dict | None, target: str | Path
) -> Path:
    """Write a run's trained model: ``checkpoint``'s weights and preprocessing with ``decision``
    and the model card (:mod:`fracture.evaluation.model_card`; ``None``: none).

    The file is a Lightning checkpoint without the training state (optimizer, loops,
    callbacks), loadable by :func:`load_classifier`. ``checkpoint`` itself is not changed,
    and ``target`` is replaced atomically, so a crash never leaves a half-written model.
    """
    source = torch.load(checkpoint, map_location="cpu", weights_only=True)
    kept = ("state_dict", "hyper_parameters", "hparams_name", "pytorch-lightning_version")
    model = {key: source[key] for key in kept if key in source}
    metadata = {**source[CHECKPOINT_KEY], "decision": decision.to_dict()}
    model[CHECKPOINT_KEY] = {**metadata, CARD_KEY: card} if card else metadata
    target = Path(target)
    partial = target.with_name(f".{target.name}.tmp")
    torch.save(model, partial)
    partial.replace(target)
    return target


def warn_if_undecided(model: FractureClassifier, path: Path) -> None:
    """A training checkpoint decides at the default 0.5, not at its run's chosen threshold."""
    if model.decision.chosen_by is None:
        log.warning(
            "%s holds no chosen decision (a training checkpoint): deciding at threshold %.2f; "
            "pass its run directory or the run's %s for the threshold chosen on validation",
            path,
            model.decision.threshold,
            MODEL_FILE,
        )
