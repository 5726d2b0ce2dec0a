"""Pretrained weights from torchvision's cache or a local file, never a surprise download."""

from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.hub import get_dir, load_state_dict_from_url

from fracture.errors import ConfigError, WeightsError

IMAGENET = "imagenet"


def load_backbone_weights(backbone: nn.Module, name: str, weights: str, allow_download: bool):
    """Load ``weights`` (``"imagenet"`` or a file path) into ``backbone`` in place."""
    if weights == IMAGENET:
        state = _imagenet_state_dict(name, allow_download)
    else:
        state = _file_state_dict(Path(weights).expanduser())
    _load_matching(backbone, state, source=weights)


def imagenet_cache_file(name: str) -> tuple[Path, str]:
    """Where torchvision caches the ImageNet weights of ``name``, and their URL."""
    enum = torchvision.models.get_model_weights(name)
    chosen = getattr(enum, "IMAGENET1K_V2", None) or enum.DEFAULT
    return Path(get_dir()) / "checkpoints" / Path(chosen.url).name, chosen.url


def _imagenet_state_dict(name: str, allow_download: bool) -> dict:
    path, url = imagenet_cache_file(name)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    fetch = (
        f'on a connected machine run `python -c "import torchvision; '
        f"torchvision.models.get_model('{name}', weights='DEFAULT')\"` and copy {path.name} into "
        f"{path.parent} (or set TORCH_HOME), or use model.weights=null"
    )
    if not allow_download:
        raise WeightsError(f"ImageNet weights for {name} not found at {path}; {fetch}")
    try:
        return load_state_dict_from_url(url, map_location="cpu", progress=False)
    except OSError as error:  # URLError and socket errors are OSErrors
        raise WeightsError(
            f"ImageNet weights for {name} not found at {path} and the download failed "
            f"({error}); {fetch}"
        ) from None


def _file_state_dict(path: Path) -> dict:
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; set model.weights to a .pth/.ckpt")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" in state:  # a Lightning checkpoint of FractureClassifier
        prefix = "backbone."
        state = {
            k[len(prefix) :]: v for k, v in state["state_dict"].items() if k.startswith(prefix)
        }
    return state


def _load_matching(backbone: nn.Module, state: dict, source: str) -> None:
    expected = backbone.state_dict()
    # The classifier of the source model (e.g. ImageNet's fc.*) has no counterpart here.
    state = {k: v for k, v in state.items() if k in expected}
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ConfigError(
            f"weights {source!r} do not fit this backbone: {len(missing)} tensors missing "
            f"(first: {missing[0]}); check model.backbone matches the weights"
        )
    backbone.load_state_dict(state)
