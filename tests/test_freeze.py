"""Frozen means frozen; fine-tuning unfreezes on schedule; both survive a resume."""

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from fracture.callbacks import BackboneFreeze
from fracture.errors import ConfigError
from fracture.train import train


def initial_model(cfg):
    # train() seeds before building the model, so the same seed rebuilds its initial weights.
    L.seed_everything(cfg.seed, workers=True)
    return instantiate(cfg.model)


def checkpoint_state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_frozen_run_keeps_backbone_weights_and_batchnorm_statistics(tiny_cfg, tmp_path):
    cfg = tiny_cfg("experiment=frozen", "callbacks.early_stopping=null")
    before = initial_model(cfg).state_dict()
    train(cfg)
    after = checkpoint_state(tmp_path / "run" / "checkpoints" / "last.ckpt")["state_dict"]
    backbone_keys = [k for k in before if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone_keys)
    for key in backbone_keys:  # weights, biases, running_mean/var, num_batches_tracked
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before["head.weight"], after["head.weight"])


class RecordPhases(L.Callback):
    """Records, at each epoch start (after BackboneFreeze ran), what is trainable and how."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_start(self, trainer, pl_module):
        optimizer = trainer.optimizers[0]
        self.epochs.append(
            {
                "layer4": all(p.requires_grad for p in pl_module.backbone.layer4.parameters()),
                "layer1": any(p.requires_grad for p in pl_module.backbone.layer1.parameters()),
                "bn_training": pl_module.backbone.layer4[0].bn1.training,
                "lrs": [group["lr"] for group in optimizer.param_groups],
                "sizes": [len(group["params"]) for group in optimizer.param_groups],
            }
        )


def fit_with_recorder(cfg, **trainer_overrides):
    datamodule, model = instantiate(cfg.data), initial_model(cfg)
    recorder = RecordPhases()
    callbacks = [instantiate(cfg.finetune), recorder]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=False, **trainer_overrides)
    trainer.fit(model, datamodule=datamodule)
    return recorder.epochs, model, trainer


def test_unfreeze_flips_requires_grad_and_adds_one_param_group(tiny_cfg):
    cfg = tiny_cfg(
        "experiment=finetune",
        "finetune.unfreeze_at_epoch=2",
        "finetune.layers=[layer3,layer4]",
        "finetune.lr_factor=0.25",
        "model.optimizer.lr=0.004",
        "model.scheduler.step_size=3",
        "model.scheduler.gamma=0.5",
        "trainer.max_epochs=4",
    )
    epochs, model, _ = fit_with_recorder(cfg, enable_checkpointing=False)
    assert [e["layer4"] for e in epochs] == [False, False, True, True]
    assert not any(e["layer1"] for e in epochs)  # not named: stays frozen
    assert [e["bn_training"] for e in epochs] == [False, False, True, True]
    assert [len(e["lrs"]) for e in epochs] == [1, 1, 2, 2]
    layer34 = len(list(model.backbone.layer3.parameters())) + len(
        list(model.backbone.layer4.parameters())
    )
    assert epochs[2]["sizes"] == [2, layer34]  # head weight + bias, then exactly the layers
    # StepLR (step 3, gamma 0.5) decays every group, the late one included.
    assert epochs[2]["lrs"] == pytest.approx([0.004, 0.001])
    assert epochs[3]["lrs"] == pytest.approx([0.002, 0.0005])


def test_frozen_backbone_is_never_in_the_optimizer(tiny_cfg):
    cfg = tiny_cfg("experiment=frozen", "trainer.max_epochs=1")
    _, model, trainer = fit_with_recorder(cfg, enable_checkpointing=False)
    optimised = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert optimised == {id(p) for p in model.head.parameters()}


def test_unknown_layer_name_is_a_config_error(tiny_cfg):
    cfg = tiny_cfg("experiment=finetune", "finetune.layers=[layer9]", "trainer.max_epochs=1")
    with pytest.raises(ConfigError, match=r"unknown backbone layers \['layer9'\].*layer4"):
        fit_with_recorder(cfg, enable_checkpointing=False)


def test_bad_schedule_values():
    with pytest.raises(ConfigError, match="unfreeze_at_epoch=-1"):
        BackboneFreeze(unfreeze_at_epoch=-1)
    with pytest.raises(ConfigError, match="lr_factor=0"):
        BackboneFreeze(lr_factor=0)


@pytest.mark.parametrize("stop_after", [1, 2], ids=["before-unfreeze", "after-unfreeze"])
def test_resume_continues_the_schedule(tiny_cfg, tmp_path, stop_after):
    common = [
        "experiment=finetune",
        "finetune.unfreeze_at_epoch=1",
        "finetune.lr_factor=0.5",
        "model.scheduler.step_size=2",
        "callbacks.early_stopping=null",
    ]
    first = tiny_cfg(*common, f"trainer.max_epochs={stop_after}", run_dir=tmp_path / "first")
    train(first)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    saved = checkpoint_state(last)
    assert saved["callbacks"]["BackboneFreeze"] == {"unfrozen": stop_after > 1}

    resumed = tiny_cfg(*common, "trainer.max_epochs=3")
    datamodule, model = instantiate(resumed.data), instantiate(resumed.model)
    recorder = RecordPhases()
    trainer = instantiate(
        resumed.trainer,
        callbacks=[instantiate(resumed.finetune), recorder],
        logger=False,
        enable_checkpointing=False,
    )
    trainer.fit(model, datamodule=datamodule, ckpt_path=str(last))

    assert len(recorder.epochs) == 3 - stop_after  # continued, not restarted
    assert all(e["layer4"] and len(e["lrs"]) == 2 for e in recorder.epochs)
    # At epoch 2, StepLR(step 2, gamma 0.1) has decayed both groups once from 1e-3 and 5e-4.
    assert recorder.epochs[-1]["lrs"] == pytest.approx([1e-4, 5e-5])
    key = "backbone.layer1.0.conv1.weight"
    assert not torch.equal(model.state_dict()[key], saved["state_dict"][key])


def test_frozen_training_matches_a_plain_pytorch_loop(tiny_cfg):
    # One full batch per epoch and no augmentation: the Lightning run must take exactly the
    # Adam steps that a hand-written loop over the head takes on the frozen features.
    cfg = tiny_cfg("experiment=frozen", "data.augment=null", "data.batch_size=16")
    start = initial_model(cfg)
    _, model, _ = fit_with_recorder(cfg, enable_checkpointing=False)

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    images, labels = next(iter(datamodule.train_dataloader()))
    start.eval()  # frozen BatchNorm uses its running statistics
    head = start.head
    optimizer = torch.optim.Adam(head.parameters(), lr=cfg.model.optimizer.lr)
    with torch.no_grad():
        features = start.backbone(images)
    for _ in range(cfg.trainer.max_epochs):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(head(features), labels).backward()
        optimizer.step()
    torch.testing.assert_close(model.head.weight, head.weight, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model.head.bias, head.bias, atol=1e-6, rtol=1e-5)
