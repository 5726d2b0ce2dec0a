"""The one prediction loop: batches of model inputs in, one output row per input out.

Evaluation (logits of a split), ``fracture-predict`` (probabilities of files), ``fracture-serve``
(a micro-batch of uploads) and the feature cache (backbone features of a split) all run their
model through :func:`run_batches`. What differs between them is only what they feed it (a
loader over inspected samples, over files that may fail, or one stacked batch of uploads) and
the model call (``forward``); the order, the device transfer, inference mode, the placement of
each output at its input's index and the record of inputs that failed are the same code.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from tqdm.auto import tqdm


class InputBatch(NamedTuple):
    """Model inputs and the positions they hold among all inputs.

    Attributes:
        images: (B, ...) tensor, what ``forward`` takes (normalised (B, 3, S, S) float32, or
            uint8 when the model normalises on its device).
        indices: The position of each image among all inputs, ``len(indices) == B``.
        failed: ``(position, reason)`` of inputs of this batch that gave no image.
    """

    images: torch.Tensor
    indices: list[int]
    failed: tuple[tuple[int, str], ...] | list[tuple[int, str]] = ()


@dataclass
class LoopOutputs:
    """One row per input, in input order.

    Attributes:
        values: (N, ...) on the CPU; rows of failed inputs are NaN.
        errors: Position → why that input gave no output.
    """

    values: torch.Tensor
    errors: dict[int, str]

    def row(self, index: int) -> torch.Tensor | None:
        return None if index in self.errors else self.values[index]


def collate_inputs(items: list[tuple[torch.Tensor, int, str]]) -> InputBatch:
    """DataLoader ``collate_fn`` for datasets of ``(image, position, reason)``; a non-empty
    reason marks an input that could not be made into an image (its tensor is ignored)."""
    good = [(image, index) for image, index, reason in items if not reason]
    images = torch.stack([image for image, _ in good]) if good else torch.zeros(0)
    failed = [(index, reason) for _, index, reason in items if reason]
    return InputBatch(images, [index for _, index in good], failed)


def numbered(batches: Iterable) -> Iterable[InputBatch]:
    """Batches ``(images, ...)`` of a loader that cannot fail, numbered in loader order."""
    start = 0
    for images, *_ in batches:
        yield InputBatch(images, list(range(start, start + len(images))))
        start += len(images)


def run_batches(
    forward: Callable[[torch.Tensor], torch.Tensor],
    batches: Iterable[InputBatch],
    count: int,
    device: str | torch.device = "cpu",
    progress: str | None = None,
) -> LoopOutputs:
    """Run ``forward`` over every batch and place its rows at their inputs' positions.

    Args:
        forward: (B, ...) inputs on ``device`` → (B, ...) outputs; called in inference mode.
        batches: The inputs; positions run over ``range(count)``.
        count: Number of inputs (the length of the result).
        device: Where ``forward`` expects its inputs.
        progress: A progress-bar label, or ``None`` for no bar.

    Returns:
        The outputs as float tensors on the CPU, in the dtype ``forward`` gives.
    """
    chunks, positions, errors = [], [], {}
    for batch in tqdm(batches, desc=progress, unit="batch", disable=progress is None):
        errors.update(batch.failed)
        if batch.indices:
            with torch.inference_mode():
                chunks.append(forward(batch.images.to(device, non_blocking=True)).cpu())
            positions.extend(batch.indices)
    return LoopOutputs(_placed(chunks, positions, count), errors)


def _placed(chunks: list[torch.Tensor], positions: list[int], count: int) -> torch.Tensor:
    # Concatenated outside inference mode: the result is a normal tensor, which a later
    # backward may save (a head trained on cached features) and callers may modify.
    if not chunks:
        return torch.full((count,), float("nan"))
    values = torch.cat(chunks)
    if positions == list(range(count)):
        return values
    placed = torch.full((count, *values.shape[1:]), float("nan"), dtype=values.dtype)
    placed[torch.tensor(positions)] = values
    return placed
