"""Checks that the synthetic set is learnable: ResNet50 from scratch at 64 px, plain PyTorch.

Usage: python scripts/probe_synthetic.py [--epochs 5] [--seed 0] [--root DIR] [--zero-init-residual]

Generates the default ``SyntheticSpec`` (into a temporary directory unless ``--root``),
trains ``resnet50(weights=None, num_classes=2)`` with Adam (lr 1e-3, batch 32) on
64 px images (random horizontal flip, gray replicated to 3 channels, ImageNet
normalisation), and prints per-epoch loss, validation and test accuracy and training
time. On 2 CPU cores it takes a few minutes. Measured 2026-11-27 on 2 cores: plain
initialisation stays near chance (0.50-0.64 test accuracy after 5 epochs);
``--zero-init-residual`` reaches 0.78 after 5. The demo's >= 0.90 comes from that plus
10 epochs (conf/model/resnet50.yaml, conf/trainer/cpu.yaml).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.models import resnet50

from fracture.synth import SyntheticSpec, ensure_dataset

_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
_SIZE = 64
_BATCH = 32


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--zero-init-residual", action="store_true")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "synthetic"
        start = time.perf_counter()
        ensure_dataset(root, SyntheticSpec())
        print(f"dataset ready in {time.perf_counter() - start:.1f} s at {root}")
        splits = {split: _load(root / split) for split in ("train", "val", "test")}
    model = resnet50(weights=None, num_classes=2, zero_init_residual=args.zero_init_residual)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        loss = _train_epoch(model, optimizer, *splits["train"])
        seconds = time.perf_counter() - start
        # Test accuracy per epoch shows how far from convergence a short run stops.
        val, test = (_accuracy(model, *splits[s]) for s in ("val", "test"))
        print(
            f"epoch {epoch}: train/loss {loss:.3f}  val/acc {val:.3f}  test/acc {test:.3f}  "
            f"(train {seconds:.0f} s)"
        )
    print(f"test/acc {test:.3f} after {args.epochs} epochs")


def _load(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """All images of a split as (N, 1, 64, 64) floats in [0, 1], and labels (fractured = 1)."""
    images, labels = [], []
    for label, name in ((1, "fractured"), (0, "not_fractured")):
        for path in sorted((folder / name).glob("*.png")):
            images.append(np.asarray(Image.open(path), dtype=np.float32) / 255.0)
            labels.append(label)
    x = torch.from_numpy(np.stack(images))[:, None]
    x = F.interpolate(x, size=(_SIZE, _SIZE), mode="bilinear", antialias=True, align_corners=False)
    return x, torch.tensor(labels)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x.expand(-1, 3, -1, -1) - _MEAN) / _STD


def _train_epoch(model, optimizer, x, y) -> float:
    model.train()
    order = torch.randperm(len(x))
    total = 0.0
    for batch in order.split(_BATCH):
        images = x[batch]
        flip = torch.rand(len(batch)) < 0.5
        images = torch.where(flip.view(-1, 1, 1, 1), images.flip(-1), images)
        loss = F.cross_entropy(model(_normalise(images)), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(x)


@torch.no_grad()
def _accuracy(model, x, y) -> float:
    model.eval()
    predictions = torch.cat([model(_normalise(b)).argmax(1) for b in x.split(128)])
    return (predictions == y).float().mean().item()


if __name__ == "__main__":
    main()
