"""Every run knows its own leakage: a hand-built set with known cross-split copies."""

import logging
import shutil
from pathlib import Path

import pytest
from hydra.utils import instantiate
from PIL import Image

from fracture.errors import ConfigError, DataError
from fracture.synth import SyntheticSpec, generate_dataset
from tests.conftest import compose_config


@pytest.fixture(scope="module")
def overlapping_root(tmp_path_factory) -> Path:
    """Synthetic split folders plus: one train image copied byte for byte into val and test,
    one re-encoded into val, and one copied within train (not leakage)."""
    root = tmp_path_factory.mktemp("overlap") / "xrays"
    generate_dataset(root, SyntheticSpec(seed=5, size=64, train=8, val=4, test=4))
    original = root / "train" / "fractured" / "train_00000.png"
    shutil.copy(original, root / "test" / "fractured" / "copy.png")
    shutil.copy(original, root / "val" / "fractured" / "copy.png")
    with Image.open(root / "train" / "not_fractured" / "train_00004.png") as image:
        image.save(root / "val" / "not_fractured" / "reencoded.jpg", quality=80)
    shutil.copy(
        root / "train" / "fractured" / "train_00001.png", root / "train" / "fractured" / "dup.png"
    )
    return root


def datamodule(root: Path, cache: Path, *overrides: str):
    cfg = compose_config(
        ["data=folder", f"data.root={root}", f"data.cache_dir={cache}", *overrides]
    )
    return instantiate(cfg.data)


def test_the_record_counts_the_planted_overlaps(overlapping_root, tmp_path, caplog):
    dm = datamodule(overlapping_root, tmp_path)
    with caplog.at_level(logging.WARNING, logger="fracture.data.leakage"):
        dm.setup("fit")
    record = dm.leakage
    assert record["pairs"] == {
        "test-train": {"exact": 1, "near": 0},
        "test-val": {"exact": 1, "near": 0},
        "val-train": {"exact": 1, "near": 1},
    }
    assert (record["exact"], record["near"]) == (3, 1)
    named = {tuple(sorted(Path(p).name for p in pair)) for pair in record["examples"]}
    assert named == {("copy.png", "train_00000.png"), ("reencoded.jpg", "train_00004.png")}
    warnings = [r.getMessage() for r in caplog.records if r.name == "fracture.data.leakage"]
    assert (
        len(warnings) == 1
        and "\n" not in warnings[0]
        and "val-train: 1 exact, 1 near" in warnings[0]
    )


def test_on_leakage_error_refuses_in_one_line(overlapping_root, tmp_path):
    dm = datamodule(overlapping_root, tmp_path, "data.on_leakage=error")
    with pytest.raises(DataError, match="leak") as caught:
        dm.setup("fit")
    assert "\n" not in str(caught.value) and "data.on_leakage=warn" in str(caught.value)


def test_on_leakage_ignore_records_nothing(overlapping_root, tmp_path):
    dm = datamodule(overlapping_root, tmp_path, "data.on_leakage=ignore")
    dm.setup("fit")
    assert dm.leakage is None


def test_a_clean_set_records_zeros(tiny_root, tmp_path):
    dm = datamodule(tiny_root, tmp_path)
    dm.setup("fit")
    assert (dm.leakage["exact"], dm.leakage["near"], dm.leakage["examples"]) == (0, 0, [])


def test_an_unknown_on_leakage_is_one_line(tiny_root, tmp_path):
    with pytest.raises(Exception) as caught:
        datamodule(tiny_root, tmp_path, "data.on_leakage=maybe")
    cause = caught.value.__cause__ or caught.value
    assert isinstance(cause, ConfigError) and "warn, error, ignore" in str(cause)
