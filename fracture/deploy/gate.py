"""Whether an int8 model may replace its fp32 model: both scored on the validation split."""

import numpy as np

from fracture.errors import ExportError
from fracture.evaluation.metrics import binary_metrics


def accuracy_gate(
    fp32: np.ndarray,
    int8: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    tolerance: float,
    min_agreement: float,
) -> dict:
    """The gate's figures, if the int8 model ranks and decides as the fp32 model does.

    Args:
        fp32: (N,) P(fractured) of the fp32 model on the validation images.
        int8: (N,) the same from the int8 model.
        labels: (N,) 0/1 labels.
        threshold: The stored decision threshold.
        tolerance: Largest allowed |AUROC_fp32 - AUROC_int8|.
        min_agreement: Smallest allowed share of images decided alike at ``threshold``.

    Raises:
        ExportError: Naming both AUROCs, the agreement and the limits they missed.
    """
    auroc_fp32, auroc_int8 = (
        float(binary_metrics(p, labels, threshold)["auroc"][0]) for p in (fp32, int8)
    )
    agreement = float(np.mean((fp32 >= threshold) == (int8 >= threshold)))
    figures = {
        "validation_images": len(labels),
        "auroc_fp32": auroc_fp32,
        "auroc_int8": auroc_int8,
        "auroc_difference": abs(auroc_fp32 - auroc_int8),
        "tolerance": tolerance,
        "agreement": agreement,
        "min_agreement": min_agreement,
        "threshold": threshold,
    }
    # Written as "not (ok)": a NaN AUROC fails the gate instead of passing it.
    if not (figures["auroc_difference"] <= tolerance and agreement >= min_agreement):
        raise ExportError(
            f"int8 model refused: validation AUROC {auroc_fp32:.4f} (fp32) vs {auroc_int8:.4f} "
            f"(int8), |difference| {figures['auroc_difference']:.4f} (quantize_tolerance="
            f"{tolerance:g}), decisions agree on {agreement:.1%} (need {min_agreement:.0%}); "
            "nothing was written: export fp32 (quantize=null) or calibrate on more images"
        )
    return figures
