"""Data sources: the layouts users bring, deterministic grouped splits, manifests."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fracture.data.samples import Sample
from fracture.data.sources import (
    ClassFolders,
    CsvManifest,
    FracAtlas,
    Mura,
    SplitFolders,
    write_manifest,
)
from fracture.data.sources.splitting import split_samples
from fracture.errors import ConfigError, DataError


def write_png(path: Path, value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(path)
    return path


def test_split_folders_accept_valid_and_odd_class_names(tmp_path):
    for split in ("train", "valid", "test"):
        write_png(tmp_path / split / "Not Fractured" / "a.png")
        write_png(tmp_path / split / "positive" / "sub" / "b.PNG")
    splits = SplitFolders(tmp_path).splits()
    assert {s: [(x.path.name, x.label) for x in v] for s, v in splits.items()} == {
        split: [("a.png", 0), ("b.PNG", 1)] for split in ("train", "val", "test")
    }


def test_missing_split_folder_names_the_aliases(tmp_path):
    write_png(tmp_path / "train" / "fractured" / "a.png")
    write_png(tmp_path / "train" / "normal" / "a.png")
    with pytest.raises(DataError, match="val/valid/validation"):
        SplitFolders(tmp_path).splits()


def fake_samples(count: int, groups: int | None = None) -> list[Sample]:
    rng = np.random.default_rng(0)
    return [
        Sample(
            Path(f"/x/img{i:04d}.png"),
            int(rng.random() < 0.3),
            group=f"p{i % groups}" if groups else None,
        )
        for i in range(count)
    ]


def test_split_is_deterministic_stratified_and_order_free():
    samples = fake_samples(1000)
    first = split_samples(samples, (0.7, 0.15, 0.15), seed=4)
    again = split_samples(list(reversed(samples)), (0.7, 0.15, 0.15), seed=4)
    other = split_samples(samples, (0.7, 0.15, 0.15), seed=5)
    assert first == again
    assert first != other
    sizes = {split: len(members) for split, members in first.items()}
    assert sizes == {"train": 700, "val": 150, "test": 150}
    overall = np.mean([s.label for s in samples])
    for members in first.values():
        assert abs(np.mean([s.label for s in members]) - overall) < 0.02
    assert sorted(s.path for m in first.values() for s in m) == sorted(s.path for s in samples)


def test_grouped_split_never_shares_a_group():
    samples = fake_samples(900, groups=120)
    splits = split_samples(samples, (0.6, 0.2, 0.2), seed=1)
    groups = {split: {s.group for s in members} for split, members in splits.items()}
    assert not groups["train"] & groups["val"]
    assert not groups["train"] & groups["test"]
    assert not groups["val"] & groups["test"]
    assert all(
        abs(len(m) / 900 - r) < 0.06 for m, r in zip(splits.values(), (0.6, 0.2, 0.2), strict=True)
    )


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0.8, 0.3, 0.1), (1.2, -0.1, -0.1)])
def test_bad_ratios_are_one_line_errors(ratios):
    with pytest.raises(ConfigError, match="sum to 1"):
        split_samples(fake_samples(10), ratios)


def test_class_folders_group_pattern_keeps_patients_together(tmp_path):
    for patient in range(30):
        for image in range(3):
            name = "fractured" if patient % 3 == 0 else "normal"
            write_png(tmp_path / name / f"patient{patient:03d}_{image}.png")
    splits = ClassFolders(tmp_path, seed=2, group_pattern=r"(patient\d+)_").splits()
    patients = {split: {s.group for s in members} for split, members in splits.items()}
    assert sum(len(p) for p in patients.values()) == 30
    assert len(set.union(*patients.values())) == 30
    assert {s.label for s in splits["train"]} == {0, 1}


def test_class_folders_refuse_an_already_split_root(tmp_path):
    write_png(tmp_path / "train" / "fractured" / "a.png")
    with pytest.raises(DataError, match="data=folder"):
        ClassFolders(tmp_path).splits()


def test_manifest_with_splits_relative_paths_and_groups(tmp_path):
    for name in ("a", "b", "c", "d", "e", "f"):
        write_png(tmp_path / "imgs" / f"{name}.png")
    manifest = tmp_path / "lists" / "m.csv"
    manifest.parent.mkdir()
    rows = ["path,label,split,group"]
    for name, label, split in zip(
        "abcdef", (1, 0) * 3, ("train",) * 2 + ("valid",) * 2 + ("test",) * 2, strict=True
    ):
        rows.append(f"../imgs/{name}.png,{'fractured' if label else 'normal'},{split},g{name}")
    manifest.write_text("\n".join(rows) + "\n")
    splits = CsvManifest(manifest).splits()
    assert [s.path.resolve() for s in splits["val"]] == [
        tmp_path / "imgs" / n for n in ("c.png", "d.png")
    ]
    assert [(s.label, s.group) for s in splits["test"]] == [(1, "ge"), (0, "gf")]


def test_manifest_bad_label_names_the_line(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label\na.png,fractured\nb.png,maybe\n")
    with pytest.raises(DataError, match=r"m\.csv:3: unknown class name 'maybe'"):
        CsvManifest(manifest).splits()


def test_manifest_without_path_column_says_what_it_needs(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\na.png,1\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) \['path'\]"):
        CsvManifest(manifest).splits()


def test_written_manifest_reads_back_as_the_same_splits(tmp_path):
    splits = {
        split: [
            Sample(write_png(tmp_path / "d" / f"{split}{i}.png"), i % 2, group=f"g{i}")
            for i in range(4)
        ]
        for split in ("train", "val", "test")
    }
    manifest = write_manifest(tmp_path / "out" / "clean.csv", splits)
    read = CsvManifest(manifest).splits()
    assert {k: [(s.path.resolve(), s.label, s.group) for s in v] for k, v in read.items()} == {
        k: [(s.path, s.label, s.group) for s in v] for k, v in splits.items()
    }


def test_fracatlas_labels_come_from_dataset_csv(tmp_path):
    rows = ["image_id,hand,leg,fractured"]
    for i in range(40):
        label = int(i % 4 == 0)
        folder = "Fractured" if label else "Non_fractured"
        write_png(tmp_path / "images" / folder / f"IMG{i:07d}.jpg")
        rows.append(f"IMG{i:07d}.jpg,1,0,{label}")
    (tmp_path / "dataset.csv").write_text("\n".join(rows) + "\n")
    splits = FracAtlas(tmp_path, seed=0).splits()
    labels = Counter(s.label for members in splits.values() for s in members)
    assert labels == {0: 30, 1: 10}
    assert all(s.path.exists() for members in splits.values() for s in members)
    assert all(
        ("Non_" not in s.path.parent.name) == bool(s.label) for m in splits.values() for s in m
    )


def make_mura(root: Path) -> None:
    for listing, patients in (("train", range(20)), ("valid", range(20, 24))):
        lines = []
        for patient in patients:
            for study, outcome in ((1, "positive"), (2, "negative")):
                for image in (1, 2):
                    study_dir = f"{listing}/XR_WRIST/patient{patient:05d}/study{study}_{outcome}"
                    relative = f"{study_dir}/image{image}.png"
                    write_png(root / relative)
                    lines.append(f"{root.name}/{relative}")
        (root / f"{listing}_image_paths.csv").write_text("\n".join(lines) + "\n")


def test_mura_valid_is_test_and_train_splits_by_patient(tmp_path):
    root = tmp_path / "MURA-v1.1"
    make_mura(root)
    splits = Mura(root, val_fraction=0.2, seed=0).splits()
    assert len(splits["test"]) == 16
    assert {s.group for s in splits["test"]} == {f"patient{p:05d}" for p in range(20, 24)}
    assert not {s.group for s in splits["train"]} & {s.group for s in splits["val"]}
    assert len(splits["val"]) == 16  # 4 of 20 patients, 4 images each
    first = splits["test"][0]
    assert first.path.exists()
    assert first.study == "XR_WRIST/patient00020/study1"
    assert first.label == 1


def test_mura_body_part_filter(tmp_path):
    root = tmp_path / "MURA-v1.1"
    make_mura(root)
    assert Mura(root, body_parts=["XR_ELBOW"]).splits()["test"] == []


def test_mura_in_a_renamed_folder(tmp_path):
    root = tmp_path / "MURA-v1.1"
    make_mura(root)
    renamed = root.rename(tmp_path / "mura")
    splits = Mura(renamed, val_fraction=0.2).splits()
    assert all(s.path.exists() for members in splits.values() for s in members)


def test_group_pattern_on_a_manifest_listing_files_elsewhere(tmp_path):
    rows = ["path,label"]
    for i in range(12):
        rows.append(f"{write_png(tmp_path / 'elsewhere' / f'patient{i % 4}_{i}.png')},{i % 2}")
    manifest = tmp_path / "lists" / "m.csv"
    manifest.parent.mkdir()
    manifest.write_text("\n".join(rows) + "\n")
    splits = CsvManifest(manifest, group_pattern=r"(patient\d+)_").splits()
    groups = [{s.group for s in members} for members in splits.values()]
    assert all(not a & b for i, a in enumerate(groups) for b in groups[i + 1 :])
