"""Where the shipped Hydra configs live, and the resolvers that ``conf/hydra`` uses.

The configs are package data (``fracture/conf``; in the repository a link to the top-level
``conf/``), so a wheel install has them too. Users add their own with ``--config-dir``.
"""

import re
from pathlib import Path

from omegaconf import OmegaConf

# An absolute path: Hydra reads a relative ``config_path`` as a Python package when it is
# started from a console script.
CONF_DIR = str(Path(__file__).resolve().parent / "conf")


def register_resolvers() -> None:
    """Register the resolvers of ``conf/hydra/default.yaml``; call before Hydra composes."""
    OmegaConf.register_new_resolver("run_dirname", _run_dirname, replace=True)
    OmegaConf.register_new_resolver("run_dir", _run_dir, replace=True)
    OmegaConf.register_new_resolver("hydra_subdir", _hydra_subdir, replace=True)


_MAX_NAME = 200


def _run_dirname(overrides: str, job_num: int) -> str:
    # Multirun subdirectories named by their overrides ("experiment-frozen+seed-1", the
    # separators set in conf/hydra/default.yaml), so TensorBoard lists runs by what differs.
    # Only characters that Hydra's override grammar takes unquoted, so a printed run directory
    # pastes into `ckpt=`, `run=` or `inputs=` as it is: '/' would nest directories, and '=',
    # ',' or brackets (finetune.layers=[layer3,layer4]) would need quoting.
    if not overrides:
        return f"job{job_num}"
    name = _UNQUOTED.sub("_", re.sub(r"[\[\]{}()'\" ]", "", overrides))
    # File names stop at 255 bytes; long names (Optuna's 17-digit floats) are cut, and
    # the job number keeps the cut names apart.
    return name if len(name.encode()) <= _MAX_NAME else f"job{job_num}+" + name[: _MAX_NAME - 16]


# What may stay: the unquoted value characters of Hydra's override grammar, less '/', '\\',
# '$' (interpolation) and the glob characters '*', '?', '%', '|'.
_UNQUOTED = re.compile(r"[^A-Za-z0-9_.+@-]")


def _run_dir(resume: str | None, new_run_dir: str) -> str:
    # `resume=<run dir>` continues in that directory instead of creating a new one.
    return str(resume) if resume else new_run_dir


def _hydra_subdir(resume: str | None, now: str) -> str:
    # Hydra's record of the command line; a resume keeps the original and adds its own.
    return f".hydra/resumed_{now}" if resume else ".hydra"
