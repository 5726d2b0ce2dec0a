"""Pretrained weights from torchvision's cache or a local file, never a surprise download."""

import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.hub import get_dir

from fracture.errors import ConfigError, WeightsError

IMAGENET = "imagenet"


def imagenet_model(name: str, allow_download: bool, **options) -> nn.Module:
    """Torchvision's ``name`` with its ``DEFAULT`` ImageNet weights, from the cache if there.

    The builder loads them, so torchvision's own key handling applies (DenseNet's files, for
    one, still use the legacy ``norm.1`` names).
    """
    weights = torchvision.models.get_model_weights(name).DEFAULT
    path = imagenet_cache_file(name)
    fetch = (
        f'on a connected machine run `python -c "import torchvision; '
        f"torchvision.models.get_model('{name}', weights='DEFAULT')\"` and copy {path.name} into "
        f"{path.parent} (or set TORCH_HOME), or use model.weights=null"
    )
    if not path.is_file() and not allow_download:
        raise WeightsError(f"ImageNet weights for {name} not found at {path}; {fetch}")
    try:
        with _weights_only_loads():
            return torchvision.models.get_model(name, weights=weights, **options)
    except (pickle.UnpicklingError, RuntimeError) as error:  # code pickled in, other tensors
        raise WeightsError(
            f"{path} is not a plain state dict of {name} ({str(error).splitlines()[0]}); "
            f"delete it and fetch it again: {fetch}"
        ) from None
    except OSError as error:  # URLError and socket errors are OSErrors
        raise WeightsError(
            f"ImageNet weights for {name} not found at {path} and the download failed "
            f"({error}); {fetch}"
        ) from None


def imagenet_cache_file(name: str) -> Path:
    """Where torchvision caches the ``DEFAULT`` ImageNet weights of ``name``."""
    url = torchvision.models.get_model_weights(name).DEFAULT.url
    return Path(get_dir()) / "checkpoints" / Path(url).name


@contextmanager
def _weights_only_loads() -> Iterator[None]:
    # torch.hub loads with weights_only=False, which would run any code pickled into the cached
    # file; torch's documented switch makes every torch.load inside weights-only.
    key = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
    before = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ[key]
        else:
            os.environ[key] = before


def load_file_weights(backbone: nn.Module, weights: str) -> None:
    """Load a state dict or a fracture checkpoint's backbone from ``weights`` in place."""
    state = _file_state_dict(Path(weights).expanduser())
    expected = backbone.state_dict()
    # The classifier of the source model (e.g. ImageNet's fc.*) has no counterpart here.
    state = {k: v for k, v in state.items() if k in expected}
    missing = sorted(set(expected) - set(state))
    if missing:
        raise ConfigError(
            f"weights {weights!r} do not fit this backbone: {len(missing)} tensors missing "
            f"(first: {missing[0]}); check model.backbone matches the weights"
        )
    backbone.load_state_dict(state)


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
