"""The GPU trainer path; skipped cleanly on machines without CUDA."""

import pytest
import torch

from fracture.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("experiment", ["frozen", "finetune"])
def test_gpu_training_with_bf16(tiny_cfg, tmp_path, experiment):
    metrics = train(tiny_cfg(f"experiment={experiment}", "trainer=gpu", "trainer.max_epochs=2"))
    assert metrics["epochs"] == 2
    assert 0.0 <= metrics["test/acc"] <= 1.0
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
