"""CSV cells that a spreadsheet would run as formulas are written as text, and read back intact."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from fracture.compare import Run, write_outputs
from fracture.data.samples import Sample
from fracture.data.sources.manifest import CsvManifest, write_manifest
from fracture.evaluation.predictions import Predictions, read_predictions, write_predictions
from fracture.inference.predict_cli import run_prediction
from fracture.spreadsheet import read_cell, safe_cell
from tests.conftest import CONF_DIR
from tests.test_checkpoints import checkpoint, save  # noqa: F401 (a fixture)

HOSTILE = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_like_strings_are_quoted_and_read_back(text):
    assert safe_cell(text) == "'" + text
    assert read_cell(safe_cell(text)) == text


@pytest.mark.parametrize("value", ["plain.png", "'quoted", "", "-0.5", "+1e3", -0.5, 3, None])
def test_other_values_and_numbers_stay_as_they_are(value):
    assert safe_cell(value) == value
    if isinstance(value, str):
        assert read_cell(value) == value


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def test_predictions_csv_of_predict_quotes_hostile_file_names(
    checkpoint,  # noqa: F811
    tiny_root,
    tmp_path,
    monkeypatch,
):
    ckpt = save(checkpoint, tmp_path / "model.ckpt")
    inputs = tmp_path / "in"
    inputs.mkdir()
    image = next((tiny_root / "test" / "fractured").glob("*.png"))
    for name in ("=HYPERLINK(1).png", "-2+3.png", "@x.png", "plain.png"):
        shutil.copy(image, inputs / name)
    monkeypatch.chdir(inputs)  # relative inputs: the path cell starts with the file name
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("predict", overrides=[f"ckpt={ckpt}", "inputs=x"])
    cfg.inputs = "*.png"
    run_prediction(cfg, tmp_path / "out")
    written = rows(tmp_path / "out" / "predictions.csv")
    assert sorted(r["path"] for r in written) == [
        "'-2+3.png",
        "'=HYPERLINK(1).png",
        "'@x.png",
        "plain.png",
    ]
    assert all(0 <= float(r["probability"]) <= 1 for r in written)


def test_evaluation_predictions_keep_their_paths_when_read_back(tmp_path):
    samples = [Sample(Path("=a.png"), 1, group="-p1"), Sample(Path("b.png"), 0, group="p2")]
    path = tmp_path / "predictions.csv"
    write_predictions(path, Predictions(samples, np.zeros((2, 2))), np.array([0.9, 0.1]), 0.5)
    assert [r["path"] for r in rows(path)] == ["'=a.png", "b.png"]
    back = read_predictions(path)
    assert back["path"] == ["=a.png", "b.png"] and back["group"] == ["-p1", "p2"]


def test_a_written_manifest_reads_back_as_the_same_samples(tmp_path):
    data = tmp_path  # beside the manifest: relative paths start with the file names
    splits = {
        split: [
            Sample(data / f"={split}.png", 1, group=f"-{split}", study="+s"),
            Sample(data / f"{split}.png", 0, group=f"@{split}"),
        ]
        for split in ("train", "val", "test")
    }
    manifest = write_manifest(tmp_path / "clean.csv", splits)
    assert any(r["path"].startswith("'") for r in rows(manifest))
    back = CsvManifest(manifest).splits()
    for split, samples in splits.items():
        got = [(s.path.resolve(), s.label, s.group, s.study) for s in back[split]]
        assert got == [(s.path.resolve(), s.label, s.group, s.study) for s in samples]


def test_compare_csv_quotes_names_and_keeps_numbers(tmp_path):
    run = Run(tmp_path / "-run", {"experiment": "=cmd()", "seed": -1, "test/acc": -0.5})
    write_outputs(tmp_path, [run], {}, "", [{"a": "@a", "difference": -0.25}], {})
    (row,) = rows(tmp_path / "compare.csv")
    assert (row["run"], row["experiment"], row["seed"]) == ("'-run", "'=cmd()", "-1")
    (paired,) = rows(tmp_path / "compare_paired.csv")
    assert (paired["a"], paired["difference"]) == ("'@a", "-0.25")
