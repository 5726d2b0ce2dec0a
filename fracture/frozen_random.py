"""A frozen backbone on random weights: a run that looks like a result but measures noise.

A linear probe on random features predicts little more than the majority class; its
accuracy then reports the class balance. ``fracture-train data=folder data.root=...`` with
the defaults (``model.weights: null``, ``finetune: frozen``) is such a run, so it says so,
unless the config asks for it with ``allow_frozen_random=true`` (the offline demo does).
"""

from omegaconf import DictConfig

WARNING = (
    "frozen backbone on random weights (model.weights=null, never unfrozen): the head learns "
    "from random features and its scores measure little; use model.weights=imagenet (or a "
    "weights file), a finetune that unfreezes, or allow_frozen_random=true if this is meant"
)


def is_frozen_random(cfg: DictConfig) -> bool:
    """Whether the backbone starts from random weights and stays frozen for the whole run."""
    if cfg.model.get("weights") is not None or not cfg.get("finetune"):
        return False
    unfreeze = cfg.finetune.get("unfreeze_at_epoch")
    max_epochs = cfg.trainer.get("max_epochs")
    return unfreeze is None or (max_epochs is not None and 0 <= max_epochs <= unfreeze)


def frozen_random_facts(cfg: DictConfig) -> dict:
    """``metrics.json`` entries: the fact always, the warning unless it was asked for."""
    frozen_random = is_frozen_random(cfg)
    warned = frozen_random and not cfg.get("allow_frozen_random", False)
    return {"model/frozen_random": frozen_random, "warnings": [WARNING] if warned else []}
