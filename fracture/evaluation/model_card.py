"""What a checkpoint says about itself: training data, validation numbers, intended use.

Written into the best checkpoint (``checkpoint["fracture"]["card"]``) when training ends, next
to the decision threshold, so that a server shows how well the model it loaded did, at the
threshold it decides with. Checkpoints from before this have no card; readers get ``None``.
"""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from fracture.models.classifier import CHECKPOINT_KEY

CARD_KEY = "card"


def model_card(cfg: DictConfig, metrics: dict) -> dict:
    """The card of a finished run, from its config and ``metrics.json`` contents."""
    return {
        "experiment": cfg.get("name"),
        "backbone": OmegaConf.select(cfg, "model.backbone"),
        "training_data": {
            "root": str(OmegaConf.select(cfg, "data.root", default=None)),
            "images": metrics.get("data/images", {}),
        },
        # The best checkpoint on the validation split, at the threshold stored with it.
        "validation": {
            "threshold": metrics["threshold"]["value"],
            "sensitivity": metrics["val/recall"],
            "specificity": metrics["val/specificity"],
            "auroc": metrics["val/auroc"],
        },
        "intended_use": cfg.get("intended_use"),
    }


def store_card(path: str | Path, card: dict) -> None:
    """Add ``card`` to a checkpoint file, replacing it atomically."""
    path = Path(path)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    checkpoint[CHECKPOINT_KEY][CARD_KEY] = card
    partial = path.with_name(f".{path.name}.tmp")
    torch.save(checkpoint, partial)
    partial.replace(path)


def read_card(path: str | Path) -> dict | None:
    """The card of a checkpoint file, or ``None`` for one written before cards existed."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return checkpoint.get(CHECKPOINT_KEY, {}).get(CARD_KEY)
