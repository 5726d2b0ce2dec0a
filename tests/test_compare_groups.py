"""fracture-compare compares like with like: groups by differing overrides, Optuna trials
chosen on validation only, leaking runs marked."""

import csv
import json

import yaml

from fracture.compare import report
from fracture.compare_runs import LEAK_MARK

OPTUNA = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


def fake_run(sweep, name, overrides, metrics, sweeper=None, optimized=None):
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if sweeper:
        hydra = {"hydra": {"sweeper": {"_target_": sweeper, "direction": "maximize"}}}
        (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    (run / "config.yaml").write_text(yaml.safe_dump({"optimized_metric": optimized}))
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def rows_of(text: str) -> dict[str, str]:
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    return {row.split(" | ")[0][2:]: row for row in rows[1:]}


def test_a_swept_setting_makes_separate_groups_seeds_pool(tmp_path):
    for factor, seed, acc in [("0.1", 0, 0.6), ("0.1", 1, 0.7), ("1.0", 0, 0.9), ("1.0", 1, 0.8)]:
        overrides = [
            "experiment=finetune",
            f"finetune.lr_factor={factor}",
            f"seed={seed}",
            f"data.cache_dir=/c{seed}",  # where a run ran does not split groups
            "hydra/launcher=submitit_local",
        ]
        metrics = {"experiment": "finetune", "seed": seed, "test/acc": acc}
        fake_run(tmp_path, f"lr_factor={factor},seed={seed}", overrides, metrics)
    rows = rows_of(report([tmp_path], resamples=10))
    assert set(rows) == {"finetune (finetune.lr_factor=0.1)", "finetune (finetune.lr_factor=1.0)"}
    assert "| 2 | 0.650 ± 0.071 |" in rows["finetune (finetune.lr_factor=0.1)"]
    assert "| 2 | 0.850 ± 0.071 |" in rows["finetune (finetune.lr_factor=1.0)"]


def test_optuna_shows_test_metrics_of_the_trial_chosen_on_validation_only(tmp_path):
    # (val/auroc, test/acc): the best test score belongs to a trial that is not best on val.
    trials = [(0.80, 0.611), (0.95, 0.722), (0.90, 0.933)]
    for index, (val, test) in enumerate(trials):
        overrides = ["hparams_search=optuna", f"model.optimizer.lr={index}e-4"]
        metrics = {"experiment": "finetune", "val/auroc": val, "test/acc": test}
        fake_run(tmp_path, f"{index}", overrides, metrics, OPTUNA, "val/auroc")
    text = report([tmp_path], resamples=10)
    assert "0.722" in text and "0.933" not in text and "0.611" not in text
    assert "trial 1 chosen on val/auroc = 0.9500" in text
    with open(tmp_path / "compare.csv") as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert rows["1"]["test/acc"] == "0.722" and rows["2"]["test/acc"] == ""
    assert rows["2"]["status"] == "optuna trial not chosen on validation"


def test_leaking_runs_are_marked(tmp_path):
    leak = {"exact": 3, "near": 1, "pairs": {}}
    for name, record in [("frozen", leak), ("finetune", {"exact": 0, "near": 0})]:
        metrics = {"experiment": name, "test/acc": 0.8, "data/leakage": record}
        fake_run(tmp_path, name, [f"experiment={name}"], metrics)
    text = report([tmp_path], resamples=10)
    rows = rows_of(text)
    assert set(rows) == {f"frozen {LEAK_MARK}", "finetune"}
    assert "data/leakage" in text
    with open(tmp_path / "compare.csv") as handle:
        leaking = {row["run"]: row["leaking"] for row in csv.DictReader(handle)}
    assert leaking == {"frozen": "True", "finetune": "False"}
