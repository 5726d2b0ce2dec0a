"""Training on imperfect data: broken files are excluded up front and reported."""

import json
import shutil

import torch
from hydra.utils import instantiate

from fracture.labels import CLASS_NAMES
from fracture.train import train
from tests.conftest import bare_trainer
from tests.test_sources import make_mura


def test_training_over_broken_files_completes_and_reports_them(tiny_root, tiny_cfg, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    broken = {
        root / "train" / "fractured" / "empty.png": b"",
        root / "train" / "not_fractured" / "notes.png": b"radiologist notes, not an image\n",
        root / "test" / "fractured" / "cut.png": next(
            root.glob("test/fractured/*.png")
        ).read_bytes()[:60],
    }
    for path, content in broken.items():
        path.write_bytes(content)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}

    metrics = train(tiny_cfg(f"data.root={root}", "experiment=frozen", "trainer.max_epochs=1"))

    assert metrics["data/excluded"] == 3
    excluded = {e["path"]: (e["split"], e["reason"]) for e in metrics["data/excluded_files"]}
    assert excluded.keys() == {str(p) for p in broken}
    assert excluded[str(root / "train" / "fractured" / "empty.png")] == ("train", "zero bytes")
    assert metrics["data/images"] == {"train": 16, "val": 8, "test": 8}
    assert sum(map(sum, metrics["test/confusion_matrix"])) == 8
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["data/excluded"] == 3
    # Nothing the user owns was modified.
    assert before == {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_loss_weights_reach_the_model(tiny_root, tiny_cfg, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    fractured = sorted((root / "train" / "fractured").iterdir())
    for path in fractured[: len(fractured) // 2]:
        path.unlink()
    counts = [len(list((root / "train" / name).iterdir())) for name in CLASS_NAMES]
    cfg = tiny_cfg(f"data.root={root}", "data.balance=loss_weights")
    datamodule, model = instantiate(cfg.data), instantiate(cfg.model)
    trainer = bare_trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=0)
    trainer.fit(model, datamodule=datamodule)
    total = sum(counts)
    expected = torch.tensor([total / (2 * counts[0]), total / (2 * counts[1])])
    assert counts[0] > counts[1]
    torch.testing.assert_close(model.class_weights, expected)


def test_mura_run_reports_study_level_metrics(tiny_cfg, tmp_path):
    root = tmp_path / "MURA-v1.1"
    make_mura(root)
    cfg = tiny_cfg("data=mura", f"data.root={root}", "data.source.val_fraction=0.2")
    metrics = train(cfg)
    assert metrics["data/images"] == {"train": 64, "val": 16, "test": 16}
    assert metrics["test_study/count"] == 8  # 4 patients x 2 studies, 2 images each
    assert 0 <= metrics["test_study/acc"] <= 1
