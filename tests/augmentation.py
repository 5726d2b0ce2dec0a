"""The shipped augmentation (``conf/data/_common.yaml``), for tests that build data by hand."""

from hydra.utils import instantiate
from omegaconf import OmegaConf

from fracture.data import Augmentation
from tests.conftest import CONF_DIR


def shipped_augmentation(**changes) -> Augmentation:
    """``data.augment`` as the configs ship it, with ``changes`` applied."""
    augment = OmegaConf.load(CONF_DIR / "data" / "_common.yaml").augment
    return instantiate(augment, **changes)
