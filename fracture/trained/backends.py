"""Backends run a predictor's model: normalised images (N, 3, S, S) → P(fractured) per member.

A backend is what :func:`fracture.trained.loop.run_batches` calls as ``forward`` for
``fracture-predict`` and ``fracture-serve``: it owns the device and the runtime, and returns
float64 (N, M) probabilities on the CPU (M members; their mean is the ensemble's probability).
"""

import torch

from fracture.trained.predictor import ProbabilityModel


class TorchBackend:
    """PyTorch eager on ``device``.

    Args:
        model: ``Predictor.model``; moved to ``device`` and put in eval mode.
        device: Where the model runs.
        tta: Average each image's probabilities with its mirror's (left and right limbs alike).
    """

    name = "torch"

    def __init__(self, model: ProbabilityModel, device: str | torch.device = "cpu", tta=False):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tta = tta

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        probabilities = self.model(images)
        if self.tta:
            probabilities = (probabilities + self.model(torch.flip(images, dims=[-1]))) / 2
        return probabilities.double().cpu()
