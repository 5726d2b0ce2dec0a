"""The named real-data recipe: experiment=imagenet_finetune and its frozen baseline."""

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tests.conftest import compose_config
from tests.test_weights import fake_cache_file


def recipe(experiment: str, tmp_path) -> DictConfig:
    cfg = compose_config([f"experiment={experiment}", "data=folder", f"data.root={tmp_path}"])
    cfg.paths.output_dir = str(tmp_path / "run")  # set by Hydra in a real run
    return cfg


@pytest.mark.parametrize("experiment", ["imagenet_finetune", "imagenet_frozen"])
def test_recipe_composes_and_resolves(experiment, tmp_path):
    values = OmegaConf.to_container(recipe(experiment, tmp_path), resolve=True)
    assert values["name"] == experiment
    assert values["model"]["backbone"] == "resnet50" and values["model"]["weights"] == "imagenet"
    assert values["model"]["optimizer"]["_target_"] == "torch.optim.Adam"
    assert values["model"]["scheduler"]["_target_"] == "torch.optim.lr_scheduler.StepLR"
    assert values["model"]["scheduler"]["step_size"] == 7
    assert values["data"]["image_size"] == 224
    assert values["callbacks"]["early_stopping"]["monitor"] == "val_epoch/loss"
    finetune = instantiate(values["finetune"])
    if experiment == "imagenet_finetune":
        assert (finetune.unfreeze_at_epoch, finetune.layers) == (3, ["layer3", "layer4"])
        assert finetune.lr_factor == 0.1
    else:
        assert finetune.unfreeze_at_epoch is None


def test_frozen_baseline_differs_from_the_recipe_only_by_the_unfreeze(tmp_path):
    tuned, frozen = (
        OmegaConf.to_container(recipe(e, tmp_path), resolve=True)
        for e in ("imagenet_finetune", "imagenet_frozen")
    )
    differing = {key for key in tuned if tuned[key] != frozen[key]}
    assert differing == {"name", "finetune"}
    assert tuned["finetune"] | {"unfreeze_at_epoch": None} == frozen["finetune"]


def test_recipe_weights_come_from_torchvision_cache(tmp_path, monkeypatch):
    _, state = fake_cache_file(tmp_path, monkeypatch, "resnet50")
    cfg = recipe("imagenet_finetune", tmp_path)
    model = instantiate(cfg.model, allow_download=False)  # offline: the cached file or nothing
    for key, value in model.backbone.state_dict().items():
        torch.testing.assert_close(value, state[key].to(value.dtype), msg=key)
