"""fracture-compare: grouping, mean ± std, outputs, and incomplete runs."""

import csv
import json
import statistics

import pytest

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
