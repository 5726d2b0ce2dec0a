"""Run directories paste into the next command unquoted (`ckpt=<printed path>`)."""

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


@pytest.mark.parametrize("overrides", SWEEPS)
def test_multirun_directories_parse_as_one_unquoted_value(overrides):
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    cfg.hydra.job.num = 3
    name = cfg.hydra.sweep.subdir  # from Hydra's own override_dirname, as in a multirun
    path = f"logs/multirun/2026-12-02_10-00-00/{name}"
    parsed = OverridesParser.create().parse_override(f"ckpt={path}")
    assert parsed.value() == path  # one plain string: no sweep, list or parse error
    assert "/" not in name and 0 < len(name.encode()) <= 200
    assert name.startswith(("job3+", overrides[0].split("=")[0]))
