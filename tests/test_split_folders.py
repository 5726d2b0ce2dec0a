"""Folder layout, label normalisation and the one-line errors for bad data roots."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fracture.data import scan_split_folders
from fracture.errors import DataError
from fracture.labels import CLASS_NAMES, FRACTURED, NOT_FRACTURED, label_index


def write_images(folder: Path, count: int, value: int = 100) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"img{i}.png" for i in range(count)]
    for path in paths:
        Image.fromarray(np.full((20, 24), value, np.uint8)).save(path)
    return paths


def make_layout(
    root: Path, classes=("fractured", "not fractured"), splits=("train", "val", "test")
):
    for split in splits:
        for name in classes:
            write_images(root / split / name, 2)
    return root


def test_fractured_is_index_one_even_when_folders_sort_the_other_way(tmp_path):
    # "fractured" < "not fractured" alphabetically: ImageFolder would make it class 0.
    root = make_layout(tmp_path)
    samples = scan_split_folders(root)["train"]
    labels = {s.path.parent.name: s.label for s in samples}
    assert labels == {"fractured": FRACTURED, "not fractured": NOT_FRACTURED}
    assert CLASS_NAMES[FRACTURED] == "fractured"


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("Fractured", 1),
        ("positive", 1),
        ("ABNORMAL", 1),
        ("1", 1),
        ("Not Fractured", 0),
        ("not_fractured", 0),
        ("Non_fractured", 0),
        ("normal", 0),
        ("negative", 0),
        ("0", 0),
    ],
)
def test_label_names_are_normalised(name, index):
    assert label_index(name) == index


def test_unknown_label_name_lists_accepted_names():
    with pytest.raises(DataError, match=r"unknown class name 'broken-ish'.*fractured"):
        label_index("broken-ish")


def test_samples_are_sorted_and_nested_images_found(tmp_path):
    root = make_layout(tmp_path)
    nested = write_images(root / "train" / "fractured" / "patient7" / "study1", 1)
    samples = scan_split_folders(root)["train"]
    assert nested[0] in [s.path for s in samples]
    assert [s.path for s in samples] == sorted(s.path for s in samples)


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_root(tmp_path):
    with pytest.raises(DataError) as error:
        scan_split_folders(tmp_path / "nowhere")
    assert_one_line(error, str(tmp_path / "nowhere"), "data.root")


def test_missing_split_folder(tmp_path):
    root = make_layout(tmp_path, splits=("train", "test"))
    with pytest.raises(DataError) as error:
        scan_split_folders(root)
    assert_one_line(error, str(root / "val"), "missing")


def test_missing_class_folder(tmp_path):
    root = make_layout(tmp_path, classes=("normal",))
    with pytest.raises(DataError) as error:
        scan_split_folders(root)
    assert_one_line(error, str(root / "train"), "'fractured'", "add fractured images")


def test_empty_class_folder(tmp_path):
    root = make_layout(tmp_path)
    empty = root / "val" / "fractured"
    for path in empty.iterdir():
        path.unlink()
    with pytest.raises(DataError) as error:
        scan_split_folders(root)
    assert_one_line(error, str(empty), "holds no images")


def test_unknown_class_folder(tmp_path):
    root = make_layout(tmp_path)
    write_images(root / "test" / "maybe", 1)
    with pytest.raises(DataError) as error:
        scan_split_folders(root)
    assert_one_line(error, str(root / "test" / "maybe"), "rename it")
    assert re.search(r"fractured: .*positive", str(error.value))
