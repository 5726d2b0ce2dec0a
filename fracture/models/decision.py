"""How a model's output becomes a decision: kept apart from how an image becomes its input.

A model's :class:`~fracture.data.preprocessing.Preprocessing` is fixed when training starts;
its :class:`Decision` is chosen on the validation split after training (the threshold policy
and, optionally, temperature scaling). A checkpoint holds both under separate keys; the
trained model of a run (``model.ckpt``, :func:`fracture.trained.checkpoints.save_trained_model`)
holds the chosen decision, a training checkpoint the default one.
"""

from dataclasses import asdict, dataclass

from fracture.labels import CLASS_NAMES


@dataclass(frozen=True)
class Decision:
    """Probability of *fractured* → class name.

    Args:
        threshold: P(fractured) at or above which the decision is *fractured*.
        temperature: Logits are divided by it before the softmax (1.0: no calibration).
        class_names: Class names in index order; index 1 is *fractured*.
        chosen_by: How the threshold was chosen (``"youden on val"``), or ``None`` for the
            default of a model whose decision has not been chosen (a training checkpoint).
    """

    threshold: float = 0.5
    temperature: float = 1.0
    class_names: tuple[str, ...] = CLASS_NAMES
    chosen_by: str | None = None

    def to_dict(self) -> dict:
        return {**asdict(self), "class_names": list(self.class_names)}

    @classmethod
    def from_dict(cls, values: dict) -> "Decision":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "class_names" in known:
            known["class_names"] = tuple(known["class_names"])
        return cls(**known)
