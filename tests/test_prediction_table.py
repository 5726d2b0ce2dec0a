"""One predictions.csv format: fracture-eval's and fracture-predict's files share their columns
and one reader reads both (and files written before the format was shared)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from fracture.data.samples import Sample
from fracture.evaluation.predictions import Predictions, read_predictions, write_predictions
from fracture.inference.predict import ImagePrediction, write_predictions_csv
from fracture.prediction_table import COLUMNS, read_prediction_table


def _header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_evaluation_and_prediction_write_the_same_columns(tmp_path):
    samples = [Sample(Path("a.png"), 1, group="p1"), Sample(Path("b.png"), 0)]
    evaluated = tmp_path / "eval.csv"
    write_predictions(evaluated, Predictions(samples, np.zeros((2, 2))), np.array([0.8, 0.2]), 0.5)
    predicted = tmp_path / "predict.csv"
    results = [
        ImagePrediction(Path("c.png"), 0.7, [0.7]),
        ImagePrediction(Path("d.png"), error="truncated"),
    ]
    predictor = SimpleNamespace(threshold=0.5, sources=[Path("m.ckpt")], is_ensemble=False)
    write_predictions_csv(predicted, results, predictor)

    assert _header(evaluated) == _header(predicted) == list(COLUMNS)
    rows = read_prediction_table(predicted)
    assert rows[0] | {"path": "c.png", "label": "", "prediction": "fractured"} == rows[0]
    assert (rows[1]["probability"], rows[1]["prediction"], rows[1]["error"]) == (
        "",
        "",
        "truncated",
    )
    columns = read_predictions(evaluated)
    assert columns["label"].tolist() == [1, 0] and columns["prediction"].tolist() == [1, 0]
    assert columns["group"] == ["p1", None]


def test_ensembles_and_overlays_add_columns_after_the_shared_ones(tmp_path):
    path = tmp_path / "p.csv"
    results = [ImagePrediction(Path("c.png"), 0.5, [0.4, 0.6], overlay="overlays/c.png")]
    predictor = SimpleNamespace(threshold=0.5, sources=[Path("a"), Path("b")], is_ensemble=True)
    write_predictions_csv(path, results, predictor)
    assert _header(path) == [*COLUMNS, "overlay", "member_0", "member_1"]
    assert read_prediction_table(path)[0]["member_1"] == "0.600000"


def test_a_file_of_the_earlier_evaluation_format_still_reads(tmp_path):
    path = tmp_path / "old.csv"
    path.write_text(
        "path,label,probability,prediction,group,study\nx.png,fractured,0.9,fractured,,\n"
    )
    columns = read_predictions(path)
    assert columns["label"].tolist() == [1] and columns["probability"].tolist() == [0.9]
