"""Run directories paste into the next command unquoted (`ckpt=<printed path>`)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser

from fracture.config import register_resolvers
from tests.conftest import CONF_DIR

SWEEPS = [
    ["experiment=finetune", "seed=1"],
    ["finetune.layers=[layer3,layer4]", "finetune.lr_factor=0.1"],
    ["model.weights=/models/resnet50.pth", "hydra/launcher=submitit_local"],
    ["finetune.lr_factor=0.012345678901234567"] * 12,  # Optuna-like: cut to 200 bytes
]


def sweep_subdir(overrides: list[str]) -> str:
    """The run directory name of job 3 of a multirun with ``overrides``, as Hydra makes it."""
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.hydra.job.num = 3
    return cfg.hydra.sweep.subdir  # from Hydra's own override_dirname, as in a multirun


@pytest.mark.parametrize("overrides", SWEEPS)
def test_multirun_directories_parse_as_one_unquoted_value(overrides):
    name = sweep_subdir(overrides)
    path = f"logs/multirun/2026-12-02_10-00-00/{name}"
    parsed = OverridesParser.create().parse_override(f"ckpt={path}")
    assert parsed.value() == path  # one plain string: no sweep, list or parse error
    assert "/" not in name and 0 < len(name.encode()) <= 200
    assert name.startswith(("job3+", overrides[0].split("=")[0]))


def test_make_train_names_its_runs_by_experiment_only():
    # The Makefile's demo passes allow_frozen_random=true to every job; the README's paths
    # (logs/multirun/<time>/experiment-finetune) must be what it writes.
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    (command,) = [line for line in makefile.splitlines() if "fracture-train -m" in line]
    sweep = command.split("-m", 1)[1].split()
    for experiment in ("frozen", "finetune"):
        overrides = [
            f"experiment={experiment}" if o.startswith("experiment=") else o for o in sweep
        ]
        assert sweep_subdir(overrides) == f"experiment-{experiment}"
