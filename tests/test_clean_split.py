"""The clean split on a Kaggle-like leaky set: groups never cross splits, every split holds
both classes at the asked ratios, and audit → clean manifest → train → eval runs end to end."""

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from fracture.audit.cli import main
from fracture.audit.groups import leakage_groups, name_family
from fracture.data.duplicates import Fingerprint, find_duplicates
from fracture.data.samples import Sample
from fracture.data.sources import CsvManifest
from fracture.evaluation.cli import evaluate_checkpoint
from fracture.train import train
from tests.conftest import CONF_DIR, tiny_config
from tests.leaky import LeakySpec, make_leaky_set

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    """The leaky set, audited with the defaults into a clean manifest."""
    work = tmp_path_factory.mktemp("leaky")
    families = make_leaky_set(work / "set", LeakySpec(originals=60, size=48))
    argv = [str(work / "set"), "--out", str(work / "audit"), "--cache-dir", str(work / "cache")]
    status = main([*argv, "--write-clean-manifest", str(work / "clean.csv"), "--no-progress"])
    assert status == 0
    report = json.loads((work / "audit" / "audit.json").read_text())
    return work, families, report


def manifest_splits(path: Path) -> dict[str, list[Sample]]:
    return CsvManifest(path).splits()


def test_no_planted_family_crosses_splits(leaky):
    work, families, report = leaky
    splits_of = defaultdict(set)
    for split, samples in manifest_splits(work / "clean.csv").items():
        for sample in samples:
            splits_of[families[str(sample.path.resolve())]].add(split)
    assert all(len(splits) == 1 for splits in splits_of.values()), splits_of
    assert len(splits_of) == len(set(families.values()))  # every family still has a file
    record = report["clean_manifest"]
    assert record["splits"] == "regrouped" and record["crossing"] == 0
    assert record["given_splits_crossing"] > 0
    assert record["groups"] == len(set(families.values()))  # 60 + 60 originals and the GIF


def test_every_split_holds_both_classes_at_the_ratios(leaky):
    work, _, report = leaky
    splits = manifest_splits(work / "clean.csv")
    per_class = Counter(s.label for samples in splits.values() for s in samples)
    total = sum(per_class.values())
    for split, samples in splits.items():
        assert len(samples) / total == pytest.approx(RATIOS[split], abs=0.05), split
        counts = Counter(s.label for s in samples)
        for label in (0, 1):
            share = counts[label] / per_class[label]
            assert share == pytest.approx(RATIOS[split], abs=0.05), (split, label)
    for split, samples in splits.items():
        recorded = report["clean_manifest"]["counts"][split]
        counts = Counter(s.label for s in samples)
        assert [recorded["not_fractured"], recorded["fractured"]] == [counts[0], counts[1]]


def test_unreadable_files_and_copies_are_listed_as_dropped(leaky):
    work, families, report = leaky
    record = report["clean_manifest"]
    reasons = {Path(d["path"]).relative_to(work / "set").as_posix(): d for d in record["dropped"]}
    truncated = [p for p, d in reasons.items() if d["reason"].startswith("unreadable")]
    assert len(truncated) == 6 and "train/fractured/5000.jpg" in truncated
    kept = sum(len(v) for v in manifest_splits(work / "clean.csv").values())
    assert record["kept"] == kept and kept + len(reasons) == report["files"]
    summary = (work / "audit" / "audit.md").read_text()
    assert f"{len(families)} readable files → {record['groups']} groups" in summary


def test_keep_splits_on_request_holds_the_given_split(leaky, tmp_path):
    work, *_ = leaky
    argv = [str(work / "set"), "--out", str(tmp_path), "--cache-dir", str(work / "cache")]
    manifest = tmp_path / "kept.csv"
    status = main([*argv, "--write-clean-manifest", str(manifest), "--splits", "keep"])
    assert status == 0
    record = json.loads((tmp_path / "audit.json").read_text())["clean_manifest"]
    assert record["splits"] == "kept" and record["crossing"] == 0
    for split, samples in manifest_splits(manifest).items():
        assert all(f"/{split}/" in str(s.path) for s in samples)


def test_a_split_without_both_classes_is_one_line_and_no_manifest(tmp_path, capsys):
    make_leaky_set(tmp_path / "set", LeakySpec(originals=3, size=48))
    manifest = tmp_path / "clean.csv"
    argv = [str(tmp_path / "set"), "--out", str(tmp_path / "audit"), "--no-progress"]
    status = main(
        [*argv, "--cache-dir", str(tmp_path / "c"), "--write-clean-manifest", str(manifest)]
    )
    error = capsys.readouterr().err.strip()
    assert status == 2 and not manifest.exists()
    assert len(error.splitlines()) == 1 and "cannot give every split both classes" in error


@pytest.mark.parametrize(
    ("stem", "family"),
    [
        ("12", "12"),
        ("12-rotated1", "12"),
        ("12-rotated1-rotated2", "12"),
        ("12 (2)", "12"),
        ("12 - Copy", "12"),
        ("12_copy", "12"),
        ("IMG-0012", "img-0012"),
        ("120", "120"),
    ],
)
def test_name_families(stem, family):
    assert name_family(stem) == family


def test_leakage_groups_join_copies_families_and_patients_across_splits():
    def fp(path, split, label, sha, phash):
        return Fingerprint(path, split, label, sha, phash)

    far = (1 << 511) - 1  # differs in every bit from 0
    prints = [
        fp("/a/train/1/12.jpg", "train", 1, "x", 0),
        fp("/a/test/1/12-rotated1.jpg", "test", 1, "y", far),  # family of 12 (class 1)
        fp("/a/val/0/12.jpg", "val", 0, "z", far >> 200),  # same name, other class: alone
        fp("/a/val/0/7.jpg", "val", 0, "w", far >> 100),  # patient p with the next one
        fp("/a/test/0/8.jpg", "test", 0, "v", far >> 300),
        fp("/a/test/0/9.jpg", "test", 0, "x", 0),  # byte copy of the first
    ]
    samples = {p.path: Sample(Path(p.path), p.label) for p in prints}
    for path in ("/a/val/0/7.jpg", "/a/test/0/8.jpg"):
        samples[path] = Sample(Path(path), 0, group="p")
    groups = leakage_groups(prints, find_duplicates(prints), samples)
    assert groups == [0, 0, 1, 2, 2, 0]


@pytest.mark.slow
@pytest.mark.e2e
def test_audit_then_train_then_eval_on_the_clean_manifest(leaky, tmp_path):
    work, *_ = leaky
    cfg = tiny_config(
        work / "clean.csv",
        tmp_path / "run",
        "data=csv",
        "trainer.max_epochs=1",
        "evaluation.bootstrap.resamples=100",
    )
    metrics = train(cfg)
    test_metrics = {k: v for k, v in metrics.items() if k.startswith("test/")}
    assert test_metrics and all(_defined(v) for v in test_metrics.values()), test_metrics
    assert metrics["data/leakage"]["exact"] == 0 and metrics["data/leakage"]["near"] == 0
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        eval_cfg = compose("eval", overrides=[f"ckpt={tmp_path / 'run'}"])
    evaluated = evaluate_checkpoint(eval_cfg, tmp_path / "eval")
    assert evaluated["test/auroc"] == pytest.approx(metrics["test/auroc"])


def _defined(value) -> bool:
    if isinstance(value, list):
        return all(_defined(v) for v in value)
    return value is not None and not (isinstance(value, float) and math.isnan(value))
