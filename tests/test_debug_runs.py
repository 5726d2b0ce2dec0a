"""debug=fdr|limit|overfit|profiler: quick checks that never pass for results."""

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fracture.config import register_resolvers
from fracture.train import train
from tests.conftest import CONF_DIR


def test_fast_dev_run_writes_no_result(tiny_cfg, tmp_path):
    metrics = train(tiny_cfg("debug=fdr", "experiment=finetune"))
    run = tmp_path / "run"
    assert metrics["debug"] == "fdr" and "test/acc" not in metrics
    assert not (run / "metrics.json").exists()
    assert not list(run.rglob("*.ckpt"))


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("limit", {"trainer.limit_train_batches": 3, "trainer.max_epochs": 2, "test": True}),
        ("overfit", {"trainer.overfit_batches": 1, "data.augment": None, "test": False}),
        ("profiler", {"trainer.max_epochs": 1, "test": False}),
    ],
)
def test_debug_choices_mark_the_run_and_set_the_trainer(choice, expected):
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("train", overrides=[f"debug={choice}"], return_hydra_config=True)
    assert cfg.debug_mode == choice
    for key, value in expected.items():
        assert OmegaConf.select(cfg, key) == value, key
    # Away from logs/runs, which fracture-compare and users read for results.
    assert "/debug/" in cfg.hydra.run.dir and cfg.hydra.run.dir.endswith(f"_{choice}")
