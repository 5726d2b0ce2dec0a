"""A frozen run on random weights warns and is recorded, unless the config asks for it."""

import json
import logging

import pytest

from fracture.frozen_random import WARNING, is_frozen_random
from fracture.train import train
from tests.conftest import compose_config


@pytest.mark.parametrize(
    ("overrides", "frozen_random"),
    [
        ([], True),  # the defaults: weights null, finetune frozen
        (["experiment=frozen_features"], True),
        (["experiment=finetune"], False),
        (["experiment=finetune", "finetune.unfreeze_at_epoch=10"], True),  # never reached
        (["experiment=finetune", "finetune.unfreeze_at_epoch=9"], False),
        (["model.weights=imagenet"], False),
        (["model.weights=/some/weights.pth"], False),
        (["~finetune"], False),  # no freeze callback: every layer trains
    ],
)
def test_frozen_random_runs_are_recognised(overrides, frozen_random):
    assert is_frozen_random(compose_config(["trainer.max_epochs=10", *overrides])) is frozen_random


@pytest.mark.parametrize("allowed", [False, True])
def test_frozen_random_run_warns_once_and_records_it(tiny_cfg, tmp_path, caplog, allowed):
    cfg = tiny_cfg("trainer.max_epochs=1", "test=false", f"allow_frozen_random={allowed}")
    with caplog.at_level(logging.WARNING, logger="fracture.train"):
        metrics = train(cfg)
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["model/frozen_random"] is True
    assert written["warnings"] == ([] if allowed else [WARNING])
    assert metrics["warnings"] == written["warnings"]
    shown = [r.getMessage() for r in caplog.records if r.getMessage() == WARNING]
    assert shown == ([] if allowed else [WARNING])
    assert "\n" not in WARNING
