"""Inference images/s: the model alone, in eval and inference mode, on batches in memory."""

import contextlib
import time

import torch

from fracture.bench.memory import cuda_peak_mib, reset_cuda_peak
from fracture.bench.timing import sync


def inference_rate(model, images: torch.Tensor, steps: int, warmup: int, bf16: bool) -> dict:
    """Images/s of ``model`` on ``images`` (N, 3, H, W), already on the model's device.

    Args:
        model: The classifier.
        images: One batch of model input.
        steps: Forward passes timed.
        warmup: Forward passes run first and not timed.
        bf16: Autocast to bfloat16, as a ``bf16-mixed`` model would be served.
    """
    device = images.device
    model.to(device).eval()
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    reset_cuda_peak(device)
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            model(images)
        sync(device)
        started = time.perf_counter()
        for _ in range(steps):
            model(images)
        sync(device)
    seconds = time.perf_counter() - started
    return {"images_per_s": steps * len(images) / seconds, "cuda_peak_mib": cuda_peak_mib(device)}
