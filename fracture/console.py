"""The console scripts' entry points, light enough that ``--help`` answers at once.

Importing torch and Lightning takes seconds (tens on a busy 2-core machine). Help and Hydra's
inspection flags (``--cfg``, ``--info``, ...) need only the configs, so each entry point answers
them before it imports the command's module.
"""

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from omegaconf import OmegaConf

from fracture.audit.arguments import audit_parser
from fracture.bench.arguments import bench_parser
from fracture.compare_arguments import compare_parser
from fracture.config import CONF_DIR

# Hydra flags that print something and run no job.
_HYDRA_ONLY = {"--cfg", "-c", "--info", "-i", "--hydra-help", "--shell-completion", "-sc"}


@dataclass(frozen=True)
class Command:
    """A Hydra console script: its name, entry config, module and what it does."""

    script: str
    config: str
    module: str
    about: str


COMMANDS = {
    "train": Command(
        "fracture-train",
        "train",
        "fracture.train",
        "Train a fractured / not-fractured classifier (frozen backbone or fine-tuned), test its "
        "best checkpoint and write a run directory. -m runs a sweep (multirun).",
    ),
    "eval": Command(
        "fracture-eval",
        "eval",
        "fracture.evaluation.cli",
        "Evaluate a checkpoint, run directory or ensemble on a split: threshold, calibration, "
        "metrics with bootstrap intervals, figures and predictions.csv.",
    ),
    "predict": Command(
        "fracture-predict",
        "predict",
        "fracture.inference.predict_cli",
        "Predict P(fractured) for image files, folders or globs, optionally with Grad-CAM "
        "overlays; writes predictions.csv.",
    ),
    "export": Command(
        "fracture-export",
        "export",
        "fracture.deploy.cli",
        "Export a checkpoint, run directory or ensemble as a verified ONNX or TorchScript "
        "model with its model.json sidecar.",
    ),
    "serve": Command(
        "fracture-serve",
        "serve",
        "fracture.serve.cli",
        "Serve one model as a web page and a JSON API (FastAPI under uvicorn).",
    ),
}


def help_text(command: Command) -> str:
    """Usage, the config groups with their choices (default marked *), and the entry
    config's settings with their defaults and comments."""
    entry = Path(CONF_DIR, f"{command.config}.yaml").read_text()
    lines = [
        f"{command.script}: {command.about}",
        "",
        f"usage: {command.script} [group=choice ...] [key=value ...]",
        "",
    ]
    groups = _groups(entry)
    if groups:
        lines += ["Config groups (group=choice; * the default):"]
        lines += [f"  {group}: {choices}" for group, choices in groups] + [""]
    lines += [
        f"Settings (key=value; conf/{command.config}.yaml):",
        *(f"  {line}" for line in _settings(entry)),
        "",
        "The whole composed config: --cfg job. Your own configs: --config-dir <folder>. "
        "Hydra's flags: --hydra-help.",
    ]
    return "\n".join(lines)


def _settings(entry: str) -> list[str]:
    # The entry config's own keys with their comments: not its defaults list or Hydra's block.
    shown, hidden = [], False
    for line in entry.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            hidden = line.startswith(("defaults:", "hydra:"))
        if line and not hidden and not line.startswith("#"):
            shown.append(line)
    return shown


def _groups(entry: str) -> list[tuple[str, str]]:
    # The entry config's defaults list names its groups and default choices; the choices are
    # the group's YAML files, less the private bases ("_common") that choices build on.
    groups = []
    for item in OmegaConf.create(entry).get("defaults", []):
        if not isinstance(item, dict) and not OmegaConf.is_dict(item):
            continue
        ((group, default),) = dict(item).items()
        folder = Path(CONF_DIR, group)
        if group.startswith("override ") or not folder.is_dir():
            continue
        names = sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))
        shown = [f"{n}*" if n == default else n for n in names]
        groups.append((group, ", ".join(shown) + ("" if default else " (none by default)")))
    return groups


def _run(command: Command) -> None:
    arguments = sys.argv[1:]
    if "--help" in arguments or "-h" in arguments:
        with _reader_may_leave():
            print(help_text(command))
        return
    if _HYDRA_ONLY.intersection(arguments):
        _hydra_only(command)
        return
    import_module(command.module).main()


def _hydra_only(command: Command) -> None:
    import hydra

    from fracture.config import register_resolvers

    register_resolvers()
    hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=command.config)(_no_job)()


def _no_job(cfg) -> None:
    # Never called: Hydra answers these flags itself and runs no job.
    raise AssertionError("a Hydra inspection flag ran a job")


def train() -> None:
    """``fracture-train``."""
    _run(COMMANDS["train"])


def evaluate() -> None:
    """``fracture-eval``."""
    _run(COMMANDS["eval"])


def predict() -> None:
    """``fracture-predict``."""
    _run(COMMANDS["predict"])


def export() -> None:
    """``fracture-export``."""
    _run(COMMANDS["export"])


def serve() -> None:
    """``fracture-serve``."""
    _run(COMMANDS["serve"])


def audit() -> int:
    """``fracture-audit``."""
    return _parse_then_run(audit_parser(), "fracture.audit.cli")


def compare() -> None:
    """``fracture-compare``."""
    return _parse_then_run(compare_parser(), "fracture.compare")


def bench() -> None:
    """``fracture-bench``."""
    return _parse_then_run(bench_parser(), "fracture.bench.cli")


def _parse_then_run(parser, module: str):
    # argparse answers --help and usage errors here, before the command's heavy imports.
    with _reader_may_leave():
        parser.parse_args()
    return import_module(module).main()


@contextmanager
def _reader_may_leave():
    # `fracture-train --help | head` closes the pipe early: that is the reader's choice, not
    # an error worth a traceback. As Python's documentation advises: point stdout at devnull
    # so that the flush at exit does not fail again, and exit with status 1.
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
