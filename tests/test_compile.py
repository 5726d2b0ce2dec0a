"""model.compile: a compiled backbone trains, and its checkpoint loads into a plain model."""

import pytest
import torch

from fracture.models import FractureClassifier
from fracture.train import train


@pytest.mark.slow
def test_compiled_training_writes_checkpoints_that_load_uncompiled(tiny_cfg, tmp_path):
    cfg = tiny_cfg("model.compile=true", "trainer.max_epochs=1", "test=false")
    assert train(cfg)["epochs"] == 1
    checkpoint = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["compile"] is False  # inference loads it plain
    plain = FractureClassifier("resnet18")
    assert set(checkpoint["state_dict"]) == set(plain.state_dict())  # no `_orig_mod.` keys
    plain.load_state_dict(checkpoint["state_dict"])
    loaded = FractureClassifier.load_from_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert loaded.backbone._compiled_call_impl is None


def test_compile_is_in_place_so_state_dict_keys_stay():
    compiled = FractureClassifier("resnet18", compile=True)
    assert compiled.backbone._compiled_call_impl is not None
    assert set(compiled.state_dict()) == set(FractureClassifier("resnet18").state_dict())
