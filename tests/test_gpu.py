"""The GPU trainer path; skipped cleanly on machines without CUDA."""

import pytest
import torch

from fracture.run_files import read_metrics
from fracture.train import train
from tests.callbacks import assert_ranks_identical
from tests.launch import launch_train

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


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_user_launched_ddp_on_two_gpus(tiny_root, tmp_path):
    # The launch of tests/test_distributed.py with NCCL ranks: default progress bar, an
    # unfreeze at epoch 1, ranks that must end with identical weights.
    run_dir, ranks = tmp_path / "run", tmp_path / "ranks"
    result = launch_train(
        tiny_root,
        tmp_path,
        "trainer=ddp",
        "trainer.devices=2",
        "experiment=finetune",
        "finetune.unfreeze_at_epoch=1",
        "+callbacks.dump._target_=tests.callbacks.SaveRankWeights",
        f"+callbacks.dump.dirpath={ranks}",
        f"hydra.run.dir={run_dir}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(run_dir)
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test/acc"] <= 1.0
    assert_ranks_identical(ranks)
