"""The real ``conf/`` composed for a benchmark: the model, data and trainer users train with."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from fracture.bench.settings import BenchSettings
from fracture.config import CONF_DIR


def bench_config(settings: BenchSettings, root: Path, scratch: Path, *overrides: str) -> DictConfig:
    """``conf/train.yaml`` for the benchmark set in ``root``, writing only under ``scratch``.

    Args:
        settings: Sizes and device.
        root: The split-folder dataset.
        scratch: Temporary folder for the caches and any run output.
        overrides: Further Hydra overrides, last.
    """
    with initialize_config_dir(version_base="1.3", config_dir=CONF_DIR):
        cfg = compose(
            "train",
            overrides=[
                "data=folder",
                f"data.root={root}",
                f"data.cache_dir={scratch / 'cache'}",  # fresh: the first epoch is cold
                f"data.image_size={settings.image_size}",
                f"data.resize_size={settings.resize_size}",
                "data.fit=crop",  # what the ImageFolder baseline does: like for like
                f"data.batch_size={settings.batch_size}",
                f"data.num_workers={settings.workers}",
                f"data.normalize_on_device={settings.normalize_on_device}",
                f"model.backbone={settings.backbone}",
                "model.weights=null",  # random weights cost the same as ImageNet's
                f"trainer={'gpu' if settings.cuda else 'cpu'}",
                f"seed={settings.seed}",
                *overrides,
            ],
        )
    with open_dict(cfg):
        cfg.paths.output_dir = str(scratch / "run")
    return cfg
