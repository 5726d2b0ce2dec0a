"""Frozen runs cost a linear probe: no autograd through the backbone, and cached features."""

import pytest
import torch
from hydra.utils import instantiate
from torch.utils.data import TensorDataset

from fracture.data.features import feature_loader
from fracture.errors import ConfigError
from fracture.models import FractureClassifier
from fracture.train import train

CALLBACK = "fracture.callbacks.CachedFeatures"


def head_of(checkpoint) -> dict:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("head.")}


@pytest.mark.parametrize("normalize_on_device", [False, True])
def test_cached_features_train_the_same_head_as_images(tiny_cfg, tmp_path, normalize_on_device):
    # Two batches per epoch, shuffled: the feature loader must draw the image loader's order.
    # With normalize_on_device the features come from uint8 batches the DataModule converts.
    common = [
        "callbacks.early_stopping=null",
        "trainer.max_epochs=3",
        f"data.normalize_on_device={normalize_on_device}",
    ]
    on_images = tiny_cfg("experiment=frozen", "data.augment=null", *common, run_dir=tmp_path / "a")
    on_features = tiny_cfg("experiment=frozen_features", *common, run_dir=tmp_path / "b")
    metrics = train(on_features)
    train(on_images)

    images_head = head_of(tmp_path / "a" / "checkpoints" / "last.ckpt")
    features_head = head_of(tmp_path / "b" / "checkpoints" / "last.ckpt")
    for key, value in images_head.items():
        torch.testing.assert_close(features_head[key], value, atol=1e-5, rtol=1e-5)
    # A normal full-model checkpoint, evaluated on test images after fitting.
    model = FractureClassifier.load_from_checkpoint(tmp_path / "b" / metrics["best_checkpoint"])
    assert any(k.startswith("backbone.") for k in model.state_dict())
    assert 0 <= metrics["test/auroc"] <= 1 and metrics["epochs"] == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["experiment=frozen", f"+callbacks.cached_features._target_={CALLBACK}"], "augment=null"),
        (["experiment=frozen_features", "finetune=unfreeze"], "finetune=frozen"),
        (["experiment=frozen_features", "callbacks.gradcam.every_n_epochs=1"], "gradcam"),
    ],
    ids=["augment", "unfreeze", "gradcam"],
)
def test_cached_features_refuse_runs_they_would_change(tiny_cfg, overrides, message):
    with pytest.raises(ConfigError, match=message):
        train(tiny_cfg(*overrides))


def test_feature_loader_serves_the_image_loaders_order(tiny_cfg):
    datamodule = instantiate(tiny_cfg("data.augment=null").data)
    datamodule.setup("fit")
    images = datamodule.train_dataloader()
    rows = len(images.dataset)
    features = feature_loader(TensorDataset(torch.arange(rows), torch.zeros(rows)), like=images)
    orders = []
    for epoch in range(3):
        images.sampler.set_epoch(epoch)  # as Lightning does at every epoch start
        served = [int(row) for batch, _ in features for row in batch]
        assert served == [index for index, _ in images.sampler]
        orders.append(served)
    assert sorted(orders[0]) == list(range(rows)) and orders[0] != orders[1] != orders[2]


def test_frozen_training_forward_builds_no_graph_through_the_backbone():
    model = FractureClassifier("resnet18").train()
    model.backbone.requires_grad_(False)
    grad_enabled = []
    model.backbone.register_forward_hook(lambda *_: grad_enabled.append(torch.is_grad_enabled()))
    images = torch.randn(2, 3, 32, 32)

    features = model.forward_features(images)  # (2, 512)
    assert grad_enabled == [False] and features.grad_fn is None and not features.requires_grad
    assert model.forward_head(features).grad_fn is not None  # the head still trains
    # A trainable backbone, or eval mode with an input that needs gradients (Grad-CAM), keeps
    # autograd on.
    assert model.eval()(images.requires_grad_()).grad_fn is not None
    model.train().backbone.layer4.requires_grad_(True)
    assert model.forward_features(images).grad_fn is not None
