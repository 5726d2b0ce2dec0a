"""Temperature scaling of two-class logits and the data of a reliability diagram.

Temperature scaling divides the logits by one T > 0 fitted on the validation split. It is a
monotone map of P(fractured), so it changes calibration (Brier, ECE) but not the ranking
(AUROC, AUPRC); threshold-based metrics change only through the threshold.
"""

import numpy as np
import torch
import torch.nn.functional as F

from fracture.evaluation.metrics import ECE_BINS, as_array, calibration_bins


def fit_temperature(logits, labels, max_iter: int = 100) -> float:
    """The temperature T minimising the NLL of ``softmax(logits / T)``.

    Args:
        logits: (N, 2) logits of (not fractured, fractured).
        labels: (N,) labels, 1 = fractured.
        max_iter: Iterations of L-BFGS on log T.

    Returns:
        T > 0. Perfectly separated logits have no minimum; T then shrinks until ``max_iter``.
    """
    z, y = _logits(logits), torch.as_tensor(as_array(labels), dtype=torch.long)
    # Optimising log T keeps T positive without constraints; float64 for a stable minimum.
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def apply_temperature(logits, temperature: float) -> np.ndarray:
    """P(fractured) = ``softmax(logits / temperature)[:, 1]``, as (N,) float64."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    return torch.softmax(_logits(logits) / temperature, dim=1)[:, 1].numpy()


def reliability_curve(probabilities, labels, bins: int = ECE_BINS) -> dict:
    """Per-bin data of a reliability diagram, binned as the ECE of `binary_metrics`.

    Returns:
        ``edges`` (bins + 1,), and per bin ``confidence`` (mean P(fractured)), ``frequency``
        (fraction fractured), both NaN for an empty bin, and ``count`` (images).
    """
    p, y = as_array(probabilities), as_array(labels)
    edges, index = calibration_bins(p, bins)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, weights=p, minlength=bins) / count
        frequency = np.bincount(index, weights=y, minlength=bins) / count
    return {"edges": edges, "confidence": confidence, "frequency": frequency, "count": count}


def _logits(logits) -> torch.Tensor:
    z = torch.tensor(as_array(logits))
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"logits must have shape (N, 2), got {tuple(z.shape)}")
    return z
