"""Every shipped backbone: its adapter facts, its weights, and one tiny fine-tuning run each."""

import functools
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torchvision
from hydra.utils import instantiate
from torchvision.ops import StochasticDepth

from fracture.callbacks import BackboneFreeze
from fracture.errors import ConfigError, WeightsError
from fracture.inference.explain import explain
from fracture.inference.export import TOLERANCE, export
from fracture.models.adapter import cam_layer, layer_groups
from fracture.models.backbones import build_backbone
from fracture.models.weights import imagenet_cache_file
from fracture.trained.predictor import load_predictor
from tests.conftest import compose_config, tiny_config
from tests.test_export import fresh_images, onnx_probability, torch_probability

# name: (feature width, layer groups), as README's model table and conf/model/*.yaml say.
SHIPPED = {
    "resnet18": (512, ["stem", "layer1", "layer2", "layer3", "layer4"]),
    "resnet50": (2048, ["stem", "layer1", "layer2", "layer3", "layer4"]),
    "densenet121": (1024, ["stem", *(f"denseblock{i}" for i in range(1, 5))]),
    "efficientnet_b0": (1280, ["stem", *(f"stage{i}" for i in range(1, 8))]),
    "convnext_tiny": (768, ["stem", *(f"stage{i}" for i in range(1, 5))]),
}


@functools.cache
def _backbone(name: str) -> tuple[torch.nn.Module, int]:
    torch.manual_seed(0)
    return build_backbone(name)


@pytest.mark.parametrize("name", SHIPPED)
def test_layer_groups_hold_every_parameter_exactly_once(name):
    backbone, num_features = _backbone(name)
    groups = layer_groups(backbone)
    assert (num_features, list(groups)) == SHIPPED[name]
    grouped = [id(p) for modules in groups.values() for m in modules for p in m.parameters()]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in backbone.parameters()}


@pytest.mark.parametrize("name", SHIPPED)
def test_cam_layer_is_a_channels_first_map_and_the_classifier_is_gone(name):
    backbone, num_features = _backbone(name)
    shapes = []
    hook = cam_layer(backbone).register_forward_hook(lambda m, i, out: shapes.append(out.shape))
    try:
        with torch.no_grad():
            features = backbone.eval()(torch.zeros(1, 3, 64, 64))
    finally:
        hook.remove()
    assert features.shape == (1, num_features)  # features, not 1000 ImageNet logits
    assert shapes == [(1, num_features, 2, 2)]  # (N, C, H, W) at 1/32 of 64 px


@pytest.mark.parametrize("name", SHIPPED)
def test_each_model_file_names_its_backbone(name):
    model = compose_config([f"model={name}"]).model
    assert model.backbone == name
    assert model.zero_init_residual == name.startswith("resnet")


def test_zero_init_residual_on_a_densenet_is_a_one_line_config_error():
    with pytest.raises(ConfigError) as error:  # torchvision's DenseNet raised a raw TypeError
        build_backbone("densenet121", zero_init_residual=True)
    assert "\n" not in str(error.value) and "model.zero_init_residual=false" in str(error.value)


def _frozen_callback(backbone: torch.nn.Module, layers) -> BackboneFreeze:
    callback = BackboneFreeze(layers=layers)
    callback.setup(None, type("Module", (), {"backbone": backbone})(), "fit")
    return callback


def test_frozen_groups_run_as_at_inference_dropout_and_stochastic_depth_included():
    backbone = torchvision.models.efficientnet_b0()  # dropout and stochastic depth
    callback = _frozen_callback(backbone, "all")
    backbone.train()  # as Lightning sets it at every epoch start
    callback.on_train_epoch_start(None, type("Module", (), {"backbone": backbone})())
    behaving = (torch.nn.Dropout, StochasticDepth, torch.nn.BatchNorm2d)
    modules = [m for m in backbone.modules() if isinstance(m, behaving)]
    assert {type(m) for m in modules} == set(behaving)
    assert not any(m.training for m in modules)


@pytest.mark.parametrize(
    ("layers", "message"),
    [(6, r"finetune.layers=6 must count 1 to 5 .*'layer4'"), (["conv1"], r"\['conv1'\].*stem")],
)
def test_bad_group_choice_is_a_config_error_naming_the_groups(layers, message):
    with pytest.raises(ConfigError, match=message):
        _frozen_callback(torchvision.models.resnet18(), layers)


def test_one_group_named_on_the_command_line_is_a_list_of_one():
    callback = _frozen_callback(torchvision.models.resnet18(), "layer4")  # finetune.layers=layer4
    assert callback.layers == ["layer4"]


def _fake_cache(tmp_path, monkeypatch, name: str, state: dict) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = imagenet_cache_file(name)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


def _legacy_densenet_key(key: str) -> str:
    # The published DenseNet files predate torchvision's `norm1` names: `norm.1`, `conv.2`, ...
    for part in ("norm", "relu", "conv"):
        for index in ("1", "2"):
            key = key.replace(f".{part}{index}.", f".{part}.{index}.")
    return key


def test_densenet_imagenet_file_loads_through_torchvision_key_handling(tmp_path, monkeypatch):
    reference = torchvision.models.densenet121().state_dict()
    # Each tensor a broadcast constant: the file stays tiny, the values tell tensors apart.
    state = {
        key: torch.full((), index * 1e-3, dtype=t.dtype).expand(t.shape)
        for index, (key, t) in enumerate(reference.items())
    }
    # Like the published file: old names, and no BatchNorm step counters (they came later).
    legacy = {_legacy_densenet_key(k): v for k, v in state.items() if "num_batches" not in k}
    assert len(set(legacy) - set(state)) > 200
    _fake_cache(tmp_path, monkeypatch, "densenet121", legacy)
    backbone, _ = build_backbone("densenet121", "imagenet", allow_download=False)
    for key, value in backbone.state_dict().items():
        if "num_batches" not in key:
            torch.testing.assert_close(value, state[key].to(value.dtype), msg=key)


class _RunsCode:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("content", ["code", "other tensors"])
def test_bad_cached_imagenet_file_is_one_line_and_runs_no_code(tmp_path, monkeypatch, content):
    marker = tmp_path / "code-ran"
    state = {"fc.weight": _RunsCode(marker) if content == "code" else torch.zeros(3)}
    path = _fake_cache(tmp_path, monkeypatch, "resnet18", state)
    with pytest.raises(WeightsError) as error:
        build_backbone("resnet18", "imagenet", allow_download=False)
    message = str(error.value)
    assert "\n" not in message and f"{path} is not a plain state dict of resnet18" in message
    assert not marker.exists()  # loaded weights-only: the pickled call never ran


class GroupRecorder(L.Callback):
    """Per epoch and layer group: whether any module trained, and whether its state moved."""

    def __init__(self):
        self.epochs = []

    def on_train_epoch_start(self, trainer, pl_module):  # after BackboneFreeze's hook
        self._groups = layer_groups(pl_module.backbone)
        self._start = {name: _state(modules) for name, modules in self._groups.items()}
        self._training = {
            name: any(m.training for module in modules for m in module.modules())
            for name, modules in self._groups.items()
        }

    def on_train_epoch_end(self, trainer, pl_module):
        changed = {
            name: _moved(start, _state(self._groups[name])) for name, start in self._start.items()
        }
        self.epochs.append({"training": self._training, "changed": changed})


def _moved(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def _state(modules: list[torch.nn.Module]) -> list[torch.Tensor]:
    # Parameters and buffers: BatchNorm's running statistics move without any gradient.
    return [t.detach().clone() for m in modules for t in m.state_dict().values()]


# The other families. The ResNet family (resnet18 for every other test) is fine-tuned, its
# BatchNorm checked, explained and exported in test_freeze, test_explain and test_export.
@pytest.fixture(scope="session", params=["densenet121", "efficientnet_b0", "convnext_tiny"])
def finetuned(request, tiny_root, tmp_path_factory):
    """One tiny run per backbone: head alone for an epoch, then its last layer group too."""
    out = tmp_path_factory.mktemp(request.param)
    cfg = tiny_config(
        tiny_root,
        out / "run",
        f"model={request.param}",
        f"model.backbone={request.param}",  # tiny_config's resnet18 would win otherwise
        "experiment=finetune",
        "finetune.layers=1",
        "finetune.unfreeze_at_epoch=1",
    )
    L.seed_everything(cfg.seed, workers=True)
    datamodule, model, recorder = instantiate(cfg.data), instantiate(cfg.model), GroupRecorder()
    trainer = instantiate(
        cfg.trainer, callbacks=[instantiate(cfg.finetune), recorder], logger=False
    )
    trainer.fit(model, datamodule=datamodule)
    trainer.save_checkpoint(out / "model.ckpt")
    return request.param, recorder.epochs, load_predictor(out / "model.ckpt")


@pytest.mark.slow
def test_frozen_then_last_group_fine_tuned(finetuned):
    name, epochs, _ = finetuned
    last = SHIPPED[name][1][-1]
    frozen, unfrozen = epochs
    # Epoch 0: nothing in the backbone trains or moves (BatchNorm statistics included).
    assert not any(frozen["training"].values()) and not any(frozen["changed"].values())
    # Epoch 1: the last group trains and moves; every other group stays frozen.
    for epoch in ("training", "changed"):
        assert {g for g, flag in unfrozen[epoch].items() if flag} == {last}, epoch


@pytest.mark.slow
def test_grad_cam_maps_every_backbone(finetuned):
    _, _, predictor = finetuned
    maps = explain(predictor, fresh_images(2, size=64))  # 2x2 last-stage maps at 64 px
    assert maps.shape == (2, 64, 64) and np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1


@pytest.mark.slow
def test_onnx_export_matches_pytorch_for_every_backbone(finetuned, tmp_path):
    _, _, predictor = finetuned
    export(predictor, tmp_path, "onnx")
    images = fresh_images(3)
    got = onnx_probability(tmp_path / "model.onnx", images)
    np.testing.assert_allclose(got, torch_probability(predictor, images), rtol=0, atol=TOLERANCE)
