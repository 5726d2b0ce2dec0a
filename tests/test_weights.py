"""ImageNet weights come from torchvision's cache, or fail with one clear line."""

import pytest
import torch
import torchvision

from fracture.errors import ConfigError, WeightsError
from fracture.models.backbones import build_backbone
from fracture.models.weights import imagenet_cache_file


def fake_cache_file(tmp_path, monkeypatch, name="resnet18"):
    """Write a tiny file of the right name: each tensor a broadcast constant (one float)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_cache_file(name)
    path.parent.mkdir(parents=True)
    reference = torchvision.models.get_model(name).state_dict()
    state = {
        key: torch.full((), index * 1e-3, dtype=t.dtype).expand(t.shape)
        for index, (key, t) in enumerate(reference.items())
    }
    torch.save(state, path)
    return path, state


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_imagenet_weights_load_from_torchvision_cache(tmp_path, monkeypatch, name):
    path, state = fake_cache_file(tmp_path, monkeypatch, name)
    assert path.name.startswith(f"{name}-") and path.stat().st_size < 1_000_000
    backbone, _ = build_backbone(name, "imagenet", allow_download=False)
    loaded = backbone.state_dict()
    assert "fc.weight" not in loaded  # the ImageNet classifier is dropped
    for key, value in loaded.items():
        torch.testing.assert_close(value, state[key].to(value.dtype), msg=key)


def test_missing_cache_names_file_path_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_cache_file("resnet50")
    with pytest.raises(WeightsError) as error:
        build_backbone("resnet50", "imagenet", allow_download=False)
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message and "on a connected machine" in message
    assert "model.weights=null" in message


def test_local_weights_file_and_lightning_checkpoint(tmp_path):
    source, _ = build_backbone("resnet18")
    torch.save(source.state_dict(), tmp_path / "w.pth")
    ckpt = {"state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}
    torch.save(ckpt, tmp_path / "w.ckpt")
    for file in ("w.pth", "w.ckpt"):
        loaded, _ = build_backbone("resnet18", str(tmp_path / file))
        for key, value in loaded.state_dict().items():
            assert torch.equal(value, source.state_dict()[key]), (file, key)


def test_weights_that_do_not_fit(tmp_path):
    torch.save(build_backbone("resnet18")[0].state_dict(), tmp_path / "r18.pth")
    with pytest.raises(ConfigError, match="do not fit this backbone"):
        build_backbone("resnet50", str(tmp_path / "r18.pth"))


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        build_backbone("resnet18", str(tmp_path / "nope.pth"))


def test_unknown_backbone():
    with pytest.raises(ConfigError, match="unknown backbone 'resnet51'"):
        build_backbone("resnet51")
