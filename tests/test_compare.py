"""fracture-compare: grouping, mean ± std, outputs, and incomplete runs."""

import csv
import json
import statistics

import numpy as np
import pytest
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from fracture.compare import main, report


def fake_run(sweep, name, experiment, seed, acc, auroc=0.9, finished=True):
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(f"- experiment={experiment}\n")
    (run / "config.yaml").write_text(f"name: {experiment}\n")
    if finished:
        metrics = {
            "experiment": experiment,
            "seed": seed,
            "test/acc": acc,
            "test/f1": acc,
            "test/precision": acc,
            "test/recall": acc,
            "test/auroc": auroc,
        }
        (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.fixture
def sweep(tmp_path):
    fake_run(tmp_path, "experiment=frozen,seed=0", "frozen", 0, 0.70)
    fake_run(tmp_path, "experiment=frozen,seed=1", "frozen", 1, 0.80)
    fake_run(tmp_path, "experiment=finetune,seed=0", "finetune", 0, 0.95)
    fake_run(tmp_path, "experiment=finetune,seed=1", "finetune", 1, 0, finished=False)
    return tmp_path


def test_table_has_mean_and_std_per_experiment(sweep):
    text = report([sweep])
    spread = statistics.stdev([0.70, 0.80])
    frozen_row = next(line for line in text.splitlines() if line.startswith("| frozen"))
    assert f"0.750 ± {spread:.3f}" in frozen_row and "| 2 |" in frozen_row
    finetune_row = next(line for line in text.splitlines() if line.startswith("| finetune"))
    assert "| 1 | 0.950 |" in finetune_row


def test_incomplete_run_is_reported_not_fatal(sweep):
    text = report([sweep])
    assert "incomplete run" in text and "experiment=finetune,seed=1" in text
    with open(sweep / "compare.csv") as handle:
        rows = list(csv.DictReader(handle))
    statuses = {row["run"]: row["status"] for row in rows}
    assert statuses["experiment=frozen,seed=0"] == "ok"
    assert "no metrics.json" in statuses["experiment=finetune,seed=1"]


def test_outputs_are_written(sweep, capsys):
    main([str(sweep)])
    printed = capsys.readouterr().out
    assert "tensorboard --logdir" in printed
    assert (sweep / "compare.md").read_text().startswith("| experiment | runs | acc")
    assert (sweep / "compare.png").stat().st_size > 1000


def test_missing_directory_is_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as error:
        main([str(tmp_path / "nope")])
    assert "is not a directory" in str(error.value)


def write_predictions_csv(run, labels, probabilities, threshold=0.5):
    names = ("not_fractured", "fractured")
    lines = ["path,label,probability,prediction,group,study"]
    for i, (label, p) in enumerate(zip(labels, probabilities, strict=True)):
        lines.append(
            f"/data/test/img{i:03d}.png,{names[label]},{p:.6f},{names[int(p >= threshold)]},,"
        )
    (run / "predictions.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def paired_sweep(tmp_path):
    """Two experiments on the same 200 images: B right wherever A is, and on 30 more."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    a_right = np.arange(200) < 150
    b_right = np.arange(200) < 180
    for name, right, seed in (("frozen", a_right, 0), ("finetune", b_right, 0)):
        run = fake_run(tmp_path, f"experiment={name}", name, seed, float(right.mean()))
        margin = rng.uniform(0.05, 0.45, 200)
        probabilities = np.where(right == (labels == 1), 0.5 + margin, 0.5 - margin)
        write_predictions_csv(run, labels, probabilities)
    fake_run(tmp_path, "experiment=finetune,seed=9", "finetune", 9, 0, finished=False)
    return tmp_path, labels


def test_paired_comparison_of_two_experiments(paired_sweep):
    sweep, labels = paired_sweep
    text = report([sweep], resamples=300)
    rows = list(csv.DictReader((sweep / "compare_paired.csv").read_text().splitlines()))
    acc = next(r for r in rows if r["metric"] == "acc")
    assert (acc["a"], acc["b"]) == ("frozen", "finetune")  # the baseline is A: B - A is the gain
    assert float(acc["difference"]) == pytest.approx(30 / 200)
    # McNemar with 30 discordant pairs, all one way: the exact binomial test, 2 * 0.5 ** 30.
    assert float(acc["p_value"]) == pytest.approx(binomtest(0, 30, 0.5).pvalue)
    assert float(acc["low"]) > 0  # the paired interval excludes no difference
    delong = next(r for r in rows if r["test"] == "DeLong")
    predictions = {
        name: [
            float(line.split(",")[2])
            for line in (sweep / f"experiment={name}" / "predictions.csv")
            .read_text()
            .splitlines()[1:]
        ]
        for name in ("frozen", "finetune")
    }
    assert float(delong["a_value"]) == pytest.approx(
        roc_auc_score(labels, predictions["frozen"]), abs=1e-9
    )
    assert float(delong["b_value"]) == pytest.approx(
        roc_auc_score(labels, predictions["finetune"]), abs=1e-9
    )
    assert "Paired on the same test images" in text and "incomplete run" in text
    assert (sweep / "roc.png").stat().st_size > 1000
    interval_rows = [line for line in text.splitlines() if line.startswith("| frozen | 200 |")]
    assert len(interval_rows) == 1 and "0.750 [" in interval_rows[0]


def test_experiments_on_different_images_are_not_paired(tmp_path):
    for name, offset in (("frozen", 0), ("finetune", 100)):
        run = fake_run(tmp_path, f"experiment={name}", name, 0, 0.5)
        labels = np.arange(20) % 2
        write_predictions_csv(run, labels, np.full(20, 0.6))
        text = (run / "predictions.csv").read_text().replace("/img0", f"/img{offset // 100}x0")
        (run / "predictions.csv").write_text(text)
    text = report([tmp_path], resamples=50)
    assert "Paired on the same test images" not in text
    assert "Pooled test predictions" in text
