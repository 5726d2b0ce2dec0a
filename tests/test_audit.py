"""fracture-audit: exact counts, unreadable files, duplicates, leakage, clean manifest."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fracture.audit.cli import main
from fracture.audit.shortcuts import Observation, shortcut_scores, shortcut_warnings
from fracture.data.sources import CsvManifest
from fracture.data.sources.layout import detect_layout
from fracture.synth import SyntheticSpec, generate_dataset
from tests import formats

SPEC = SyntheticSpec(seed=11, size=160, train=12, val=6, test=6)


def noise(seed: int, shape=(40, 48), dtype=np.uint8, high=256) -> np.ndarray:
    """Distinct, smooth-ish content per file, so format fixtures never look alike."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, high, size=(shape[0] // 8, shape[1] // 8))
    return np.kron(coarse, np.ones((8, 8))).astype(dtype)


def generated(root: Path, folder: str, index: int = 0) -> Path:
    """The index-th image the synthetic generator wrote into ``root/folder``."""
    return sorted(root.glob(f"{folder}/*_0*.png"))[index]


@pytest.fixture(scope="module")
def messy_root(tmp_path_factory) -> Path:
    """Synthetic radiographs plus every format, broken files, copies across splits."""
    root = tmp_path_factory.mktemp("messy") / "xrays"
    generate_dataset(root, SPEC)
    train_f, train_n = root / "train" / "fractured", root / "train" / "not_fractured"
    val_f, test_f, test_n = (
        root / "val" / "fractured",
        root / "test" / "fractured",
        root / "test" / "not_fractured",
    )
    # Readable files of every format (6 more train images, 2 more test images).
    formats.write_png16(train_f, noise(1, dtype=np.uint16, high=4096))
    formats.write_palette_png(
        train_n, noise(2) % 4, np.array([[0, 0, 0], [90] * 3, [180] * 3, [255] * 3]), 0
    )
    formats.write_cmyk_jpeg(train_n, np.stack([noise(3 + i) for i in range(4)], axis=-1))
    formats.write_exif_rotated_jpeg(train_f, noise(7))
    formats.write_gif_named_jpg(train_f, noise(8))
    formats.write_dicom(
        train_n,
        noise(9, dtype=np.uint16, high=4096),
        photometric="MONOCHROME1",
        window=(2048, 4096),
    )
    formats.write_bmp(test_n, noise(10))
    formats.write_rgba_png(test_n, np.stack([noise(11 + i) for i in range(4)], axis=-1))
    # Unreadable: one per split.
    formats.write_zero_byte(train_f, "empty.png")
    formats.write_truncated_jpeg(val_f, noise(20), "cut.jpg")
    formats.write_text_as_png(test_n, "notes.png")
    # Leakage: a byte-identical copy in test, a resized JPEG in test, a re-encoded one in val.
    shutil.copy(generated(root, "train/fractured"), test_f / "copy.png")
    with Image.open(generated(root, "train/not_fractured")) as image:
        image.convert("L").resize((120, 120)).save(test_n / "smaller.jpg", quality=85)
    with Image.open(generated(root, "train/fractured", 1)) as image:
        image.convert("L").save(val_f / "reencoded.jpg", quality=70)
    # A conflicting label inside train: a fractured image filed as not fractured too.
    shutil.copy(generated(root, "train/fractured", 2), train_n / "mislabelled.png")
    return root


@pytest.fixture(scope="module")
def audited(messy_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    status = main(
        [
            str(messy_root),
            "--out",
            str(out / "report"),
            "--cache-dir",
            str(out / "cache"),
            "--write-clean-manifest",
            str(out / "clean.csv"),
            "--splits",
            "keep",  # the regrouping default is tested on the leaky set (test_clean_split.py)
            "--no-progress",
        ]
    )
    assert status == 0
    return out, json.loads((out / "report" / "audit.json").read_text())


def test_counts_per_split_and_class(audited):
    _, report = audited
    half = {"train": 6, "val": 3, "test": 3}
    # Added files: train +3 fractured (16-bit PNG, EXIF JPEG, GIF) and +4 not fractured
    # (palette, CMYK, DICOM, mislabelled copy); val +1 re-encoded copy; test +1 copy, +3 (BMP,
    # RGBA, resized copy). One unreadable file per split on top.
    extra = {"train": (3, 4), "val": (1, 0), "test": (1, 3)}
    for split, counts in report["counts"].items():
        assert counts["fractured"] == half[split] + extra[split][0], split
        assert counts["not_fractured"] == half[split] + extra[split][1], split
        assert counts["unreadable"] == 1, split
    assert report["files"] == 24 + 12 + 3


def test_unreadable_files_with_reasons(audited):
    _, report = audited
    reasons = {Path(u["path"]).name: (u["split"], u["reason"]) for u in report["unreadable"]}
    assert reasons.keys() == {"empty.png", "cut.jpg", "notes.png"}
    assert reasons["empty.png"] == ("train", "zero bytes")
    assert reasons["cut.jpg"][0] == "val" and "truncated" in reasons["cut.jpg"][1]
    assert reasons["notes.png"][0] == "test" and "not an image" in reasons["notes.png"][1]


def test_leakage_counts_per_split_pair(audited):
    _, report = audited
    assert report["leakage"] == {
        "test-train": {"exact": 1, "near": 1},
        "test-val": {"exact": 0, "near": 0},
        "val-train": {"exact": 0, "near": 1},
    }
    conflicting = report["duplicates"]["conflicting_labels"]
    assert [sorted(Path(p).name for p in cluster) for cluster in conflicting] == [
        ["mislabelled.png", "train_00002.png"]
    ]
    assert any("leakage test-train" in w for w in report["warnings"])


def test_formats_distribution(audited):
    _, report = audited
    formats_seen = set(report["distributions"]["format"]["fractured"]) | set(
        report["distributions"]["format"]["not_fractured"]
    )
    assert formats_seen == {"PNG", "JPEG", "GIF", "DICOM", "BMP"}
    assert report["distributions"]["mode"]["not_fractured"]["MONOCHROME1"] == 1


def test_outputs_and_clean_manifest(audited, messy_root):
    out, report = audited
    for name in ("audit.json", "audit.md", "class_distribution.png", "augmented_samples.png"):
        assert (out / "report" / name).stat().st_size > 100, name
    assert list((out / "report").glob("events.out.tfevents.*"))
    dropped = {Path(d["path"]).name for d in report["clean_manifest"]["dropped"]}
    assert {"copy.png", "smaller.jpg", "reencoded.jpg", "mislabelled.png"} <= dropped
    clean = CsvManifest(out / "clean.csv").splits()
    names = {s.path.name for samples in clean.values() for s in samples}
    assert not names & {"empty.png", "cut.jpg", "notes.png", "copy.png", "smaller.jpg"}
    assert report["clean_manifest"]["kept"] == sum(len(v) for v in clean.values())


def test_clean_manifest_audits_clean(audited, tmp_path):
    out, _ = audited
    status = main(
        [
            str(out / "clean.csv"),
            "--out",
            str(tmp_path),
            "--cache-dir",
            str(out / "cache"),
            "--no-progress",
        ]
    )
    report = json.loads((tmp_path / "audit.json").read_text())
    assert status == 0
    assert report["unreadable"] == [] and report["duplicates"]["conflicting_labels"] == []
    assert all(c == {"exact": 0, "near": 0} for c in report["leakage"].values())


def test_changed_file_is_inspected_again(tmp_path, capsys):
    root = tmp_path / "data"
    generate_dataset(root, SyntheticSpec(seed=2, size=48, train=4, val=2, test=2))
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main([str(root), "--out", str(tmp_path / "a"), *cache]) == 0
    assert "inspecting images" in capsys.readouterr().err  # the progress bar
    generated(root, "val/fractured").write_text("overwritten by mistake")
    assert main([str(root), "--out", str(tmp_path / "b"), *cache]) == 0
    report = json.loads((tmp_path / "b" / "audit.json").read_text())
    assert [Path(u["path"]).name for u in report["unreadable"]] == ["val_00000.png"]
    assert "not an image" in report["unreadable"][0]["reason"]


def test_hydra_style_arguments(tiny_root, tmp_path):
    status = main(
        [
            "data=folder",
            f"data.root={tiny_root}",
            f"data.cache_dir={tmp_path}/c",
            "--out",
            str(tmp_path / "o"),
            "--no-progress",
        ]
    )
    report = json.loads((tmp_path / "o" / "audit.json").read_text())
    assert status == 0 and report["source"] == f"SplitFolders({tiny_root})"
    assert sum(c["total"] for c in report["counts"].values()) == 32


def test_missing_root_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("fracture-audit: error:") and "\n" not in error and "nowhere" in error


def test_clean_manifest_is_never_written_into_the_dataset(tiny_root, tmp_path, capsys):
    before = sorted(tiny_root.rglob("*"))
    assert main([str(tiny_root), "--write-clean-manifest", str(tiny_root / "clean.csv")]) == 2
    assert "never writes to" in capsys.readouterr().err
    assert sorted(tiny_root.rglob("*")) == before


def test_layout_detection(tmp_path):
    (tmp_path / "split" / "valid").mkdir(parents=True)
    (tmp_path / "split" / "train").mkdir()
    (tmp_path / "classes" / "fractured").mkdir(parents=True)
    (tmp_path / "atlas" / "images").mkdir(parents=True)
    (tmp_path / "atlas" / "dataset.csv").write_text("image_id,fractured\n")
    (tmp_path / "MURA").mkdir()
    (tmp_path / "MURA" / "train_image_paths.csv").write_text("")
    (tmp_path / "list.csv").write_text("path,label\n")
    found = {
        name: detect_layout(tmp_path / name)
        for name in ("split", "classes", "atlas", "MURA", "list.csv")
    }
    assert found == {
        "split": "folder",
        "classes": "class_folders",
        "atlas": "fracatlas",
        "MURA": "mura",
        "list.csv": "csv",
    }


def observations(feature_of_label) -> list[Observation]:
    rows = []
    for i in range(200):
        label = i % 2
        split = "train" if i < 120 else "test"
        rows.append(
            Observation(split, label, f"{100 + i}x{100 + i}", "L", feature_of_label(label, i))
        )
    return rows


def test_a_format_that_gives_the_label_away_is_a_shortcut():
    scores = shortcut_scores(observations(lambda label, i: "DICOM" if label else "PNG"))
    assert scores == {"size": 0.5, "mode": 0.5, "format": 1.0}
    assert [w.split()[0] for w in shortcut_warnings(scores)] == ["format"]


def test_an_unrelated_format_is_not_a_shortcut():
    scores = shortcut_scores(observations(lambda label, i: "JPEG" if i % 3 else "PNG"))
    assert scores["format"] == pytest.approx(0.5, abs=0.1)
    assert shortcut_warnings(scores) == []
