"""Shared fixtures: tiny generated datasets and configs composed from the real conf/."""

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from fracture import config as fracture_config
from fracture.synth import SyntheticSpec, generate_dataset

CONF_DIR = Path(fracture_config.CONF_DIR)  # the shipped configs, as the console scripts read them
TINY_SPEC = SyntheticSpec(seed=3, size=48, train=16, val=8, test=8)

# Two CPU cores: one torch thread keeps tests from fighting the dataloader for them.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    """A 32-image synthetic dataset, generated once per test session."""
    root = tmp_path_factory.mktemp("tiny") / "synthetic"
    generate_dataset(root, TINY_SPEC)
    return root


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    """The real ``conf/train.yaml`` composed with ``overrides``, as Hydra would."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("train", overrides=overrides or [])


def tiny_data(root: Path, cache_dir: Path, source: str = "data=folder") -> list[str]:
    """Overrides for a run on the tiny set: ``source`` at ``root``, 32 px, a ResNet18, images
    read in the training process."""
    return [
        source,
        f"data.root={root}",
        f"data.cache_dir={cache_dir}",
        "data.image_size=32",
        "data.resize_size=32",
        "data.num_workers=0",
        "model.backbone=resnet18",
    ]


def tiny_config(root: Path, output_dir: Path, *overrides: str) -> DictConfig:
    """The real config shrunk to the tiny set (resnet18, 32 px, 2 epochs), writing into
    ``output_dir``; ``overrides`` come last (a ``data=`` choice replaces split folders)."""
    source = next((o for o in overrides if o.startswith("data=")), "data=folder")
    cfg = compose_config(
        [
            *tiny_data(root, output_dir.parent / "cache", source),
            "data.batch_size=8",
            "trainer.max_epochs=2",
            "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false",
            "seed=7",
            *(o for o in overrides if not o.startswith("data=")),
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
    return cfg


def bare_trainer(**options) -> L.Trainer:
    """A CPU Trainer that writes and prints nothing of its own (no logger, checkpoints,
    progress bar or summary), with ``options`` for the rest."""
    quiet = {
        "accelerator": "cpu",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return L.Trainer(**{**quiet, **options})


@pytest.fixture
def tiny_cfg(tiny_root, tmp_path):
    """Factory of shrunk training configs that write into this test's tmp_path."""

    def make(*overrides: str, run_dir: Path | None = None) -> DictConfig:
        return tiny_config(tiny_root, run_dir or tmp_path / "run", *overrides)

    return make
