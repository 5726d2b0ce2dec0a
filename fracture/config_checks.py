"""Configuration values checked before anything is built, so that a bad one is one line.

Hydra types command-line values by their look (``abc`` a string, ``-4`` an int) and checks
nothing else; unchecked, ``trainer.max_epochs=abc`` surfaces from deep inside Lightning as a
59-line traceback, and ``-1`` is silently "train forever". Each tool lists the keys it reads
and the kind of value each must hold; keys its config lacks are skipped.
"""

import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from fracture.errors import ConfigError

_ABSENT = object()


@dataclass(frozen=True)
class Kind:
    """What a value must be: ``test`` it, or name it (``wanted``) with an ``example``."""

    test: Callable[[object], bool]
    wanted: str
    example: str


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


WHOLE = Kind(_whole, "a whole number", "8")
NUMBER = Kind(_number, "a number", "20")
POSITIVE_INT = Kind(lambda v: _whole(v) and v >= 1, "a whole number of 1 or more", "8")
COUNT = Kind(lambda v: _whole(v) and v >= 0, "a whole number of 0 or more", "0")
WORKERS = Kind(lambda v: v == "auto" or COUNT.test(v), "auto or a whole number of 0 or more", "2")
POSITIVE = Kind(lambda v: _number(v) and v > 0, "a positive number", "0.001")
PROBABILITY = Kind(lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]", "0.5")
LEVEL = Kind(lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)", "0.95")
FLAG = Kind(lambda v: isinstance(v, bool), "true or false", "true")
SEED = Kind(lambda v: v is None or _whole(v), "a whole number or null", "0")
PORT = Kind(lambda v: _whole(v) and 0 <= v <= 65535, "a port number (0 to 65535)", "8000")

# The data settings every tool that builds a data module reads (train, eval).
DATA = {
    "data.batch_size": POSITIVE_INT,
    "data.image_size": POSITIVE_INT,
    "data.resize_size": POSITIVE_INT,
    "data.num_workers": WORKERS,
    "data.prefetch_factor": POSITIVE_INT,
    "data.max_pixels": POSITIVE_INT,
    "data.pixel_cache": FLAG,
}
EVALUATION = {
    "evaluation.threshold.fixed": PROBABILITY,
    "evaluation.threshold.target_sensitivity": PROBABILITY,
    "evaluation.temperature_scaling": FLAG,
    "evaluation.bootstrap.resamples": COUNT,
    "evaluation.bootstrap.level": LEVEL,
}
TRAIN = {
    "seed": SEED,
    "trainer.max_epochs": POSITIVE_INT,
    "trainer.min_epochs": COUNT,
    "trainer.log_every_n_steps": POSITIVE_INT,
    "model.optimizer.lr": POSITIVE,
    "test": FLAG,
    **DATA,
    **EVALUATION,
}
EVAL = {**DATA, **EVALUATION}
PREDICT = {
    "batch_size": POSITIVE_INT,
    "num_workers": COUNT,
    "max_pixels": POSITIVE_INT,
    "tta": FLAG,
    "explain": FLAG,
    "follow_symlinks": FLAG,
}
EXPORT = {
    "opset": POSITIVE_INT,
    "calibration_images": POSITIVE_INT,
    "quantize_tolerance": Kind(lambda v: _number(v) and v >= 0, "a number of 0 or more", "0.005"),
    "quantize_agreement": PROBABILITY,
}
# Types only: ServeSettings checks the ranges of its own values.
SERVE = {
    "port": PORT,
    "max_upload_mb": NUMBER,
    "max_files": WHOLE,
    "max_pixels": WHOLE,
    "threads": WHOLE,
    "queue_size": WHOLE,
    "tta": FLAG,
}


def check_config(cfg: DictConfig, kinds: Mapping[str, Kind]) -> None:
    """Every required (``???``) key set, and each key of ``kinds`` holding its kind.

    Raises:
        ConfigError: Naming the first bad key, its value, what it must be, and an example.
    """
    missing = _missing_keys(cfg)
    if missing:
        raise ConfigError(
            f"{', '.join(missing)} must be set; add {missing[0]}=<value> to the command line"
        )
    for key, kind in kinds.items():
        value = _select(cfg, key)
        if value is not _ABSENT and not kind.test(value):
            raise ConfigError(f"{key}={value!r} is not {kind.wanted}; e.g. {key}={kind.example}")


def _missing_keys(node, prefix: str = "") -> list[str]:
    # Not OmegaConf.missing_keys: it resolves interpolations, and one pointing at a missing
    # value (`source.root: ${..root}`) raises instead of naming `data.root`.
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    missing = []
    for key in keys:
        if OmegaConf.is_missing(node, key):
            missing.append(f"{prefix}{key}")
        elif not OmegaConf.is_interpolation(node, key) and OmegaConf.is_config(node[key]):
            missing.extend(_missing_keys(node[key], f"{prefix}{key}."))
    return missing


def _select(cfg: DictConfig, key: str):
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT)
    except OmegaConfBaseException as error:  # an interpolation that cannot be resolved
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ConfigError(f"{key} cannot be resolved: {first_line}") from None


def check_resume_checkpoint(ckpt_path: str | None) -> None:
    """A checkpoint to resume from must be a checkpoint file, loadable as data only.

    Lightning would fail on anything else deep inside ``fit`` (a text file: IndexError; a
    pickle that runs code: refused by ``weights_only``, but as a 50-line traceback).
    """
    if ckpt_path is None:
        return
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        state = "is a folder (resume=<run dir> continues a run)" if path.is_dir() else "is missing"
        raise ConfigError(f"ckpt_path={ckpt_path} {state}; pass a .ckpt file or ckpt_path=last")
    reason = _unloadable(path)
    if reason:
        raise ConfigError(
            f"ckpt_path={ckpt_path} is not a checkpoint ({reason}); "
            "pass a .ckpt written by fracture-train, or ckpt_path=last"
        )


def _unloadable(path: Path) -> str | None:
    if not zipfile.is_zipfile(path):
        return "not the zip archive torch.save writes"
    try:  # mmap: reads the structure without reading the weights into memory
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError:
        return "it holds objects other than tensors and plain data, refused unread"
    except Exception as error:  # torch raises many kinds for a file that is no checkpoint
        return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    return None
