"""What a checkpoint says about itself: training data, validation numbers, intended use.

Stored in the run's trained model (``model.ckpt``, ``checkpoint["fracture"]["card"]``) when
training ends, next to the decision, so that a server shows how well the model it loaded did,
at the threshold it decides with. Training checkpoints and older files have no card; readers
get ``None``.
"""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from fracture.models.classifier import CHECKPOINT_KEY
from fracture.trained.checkpoints import CARD_KEY


def model_card(cfg: DictConfig, metrics: dict) -> dict:
    """The card of a finished run, from its config and ``metrics.json`` contents."""
    return {
        "experiment": cfg.get("name"),
        "backbone": OmegaConf.select(cfg, "model.backbone"),
        "training_data": {
            "root": str(OmegaConf.select(cfg, "data.root", default=None)),
            "images": metrics.get("data/images", {}),
        },
        # The best checkpoint on the validation split, at the decision stored with it.
        "validation": {
            "threshold": metrics["threshold"]["value"],
            "sensitivity": metrics["val/recall"],
            "specificity": metrics["val/specificity"],
            "auroc": metrics["val/auroc"],
        },
        "intended_use": cfg.get("intended_use"),
    }


def read_card(path: str | Path) -> dict | None:
    """The card of a checkpoint file, or ``None`` for one written before cards existed."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return checkpoint.get(CHECKPOINT_KEY, {}).get(CARD_KEY)
