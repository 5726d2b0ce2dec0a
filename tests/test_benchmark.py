"""fracture-bench: its plain PyTorch loop is a faithful reference, and it runs end to end."""

import json

import pytest
import torch
from torch.utils.data import DataLoader

from fracture.bench.cli import main
from fracture.bench.config import bench_config
from fracture.bench.settings import preset
from fracture.bench.training import build_model, lightning_loop, plain_loop, prepare_plain


@pytest.mark.parametrize("finetune", ["frozen", "full"])
def test_plain_loop_computes_the_lightning_steps_losses(tmp_path, finetune):
    # The same model config, initial weights, optimizer groups and batches: every step's
    # loss must agree, so the loop measures Lightning's overhead and nothing else.
    cfg = bench_config(preset("smoke"), tmp_path / "data", tmp_path, f"finetune={finetune}")
    generator = torch.Generator().manual_seed(0)
    batches = DataLoader(
        [(torch.randn(4, 3, 32, 32, generator=generator), torch.tensor([0, 1, 1, 0]))] * 3,
        batch_size=None,
    )
    model = build_model(cfg)
    optimizer = prepare_plain(model, frozen=finetune == "frozen")
    _, plain_losses = plain_loop(model, batches, optimizer, torch.device("cpu"))
    timer = lightning_loop(cfg, build_model(cfg), 3, train_dataloaders=batches)
    assert timer.losses == pytest.approx(plain_losses, abs=1e-6)
    assert len(timer.step_times()) == len(timer.wait_times()) == 3


def test_benchmark_runs_end_to_end_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    main(["--preset", "smoke", "--data", str(tmp_path / "images"), "--json", str(out)])
    results = json.loads(out.read_text())
    expected = {"machine", "settings", "data", "training", "end_to_end", "features", "inference"}
    assert expected | {"memory", "targets", "command", "date"} <= results.keys()
    assert results["data"]["warm_images_per_s"] > 0 and results["data"]["baseline_images_per_s"] > 0
    for mode in ("frozen", "finetuned"):
        losses = results["training"][mode]["first_loss"]
        assert losses["plain"] == pytest.approx(losses["lightning"], abs=1e-6)
    assert results["features"]["features_epoch_s"] > 0
    assert results["memory"]["rss_mib"]["process"] > 0
    assert len(results["targets"]) == 7
    assert results["command"].startswith("fracture-bench --preset smoke")
    printed = capsys.readouterr().out
    assert "| data: fracture, warm (pixel cache) |" in printed
    # Toy sizes: the table is printed under a warning, and no target is called met or not.
    assert "smoke preset" in printed and "not measurements" in printed
    assert "| target |" not in printed


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_benchmark_gpu_path_runs_with_bf16(tmp_path):
    # The h100 preset's trainer (trainer=gpu: bf16, cuDNN autotuning), at smoke size.
    out = tmp_path / "bench.json"
    main(
        ["--preset", "smoke", "--device", "cuda", "--data", str(tmp_path / "i"), "--json", str(out)]
    )
    results = json.loads(out.read_text())
    assert results["machine"]["gpu"] and results["end_to_end"]["cuda_peak_mib"] > 0
    assert all(t["met"] is not None for t in results["targets"])
