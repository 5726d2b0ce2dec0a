"""The embedded synthetic radiograph generator: images, dataset layout, reuse, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import fracture.synth.dataset as synth_dataset
from fracture.errors import ConfigError, DataError
from fracture.synth import (
    SyntheticSpec,
    ensure_dataset,
    generate_dataset,
    render_radiograph,
    render_with_kind,
)
from fracture.synth.anatomy import draw_limb
from fracture.synth.cli import main
from fracture.synth.fractures import KINDS, SUBTLE, draw_fracture

TINY = SyntheticSpec(seed=3, size=32, train=5, val=2, test=3, fractured_fraction=0.4)


def _render(seed, size=64, fractured=True, subtle_fraction=0.15):
    return render_with_kind(np.random.default_rng(seed), size, fractured, subtle_fraction)


def _seed_of_each_kind() -> dict[str, int]:
    """First seed that draws each fracture kind (the kind does not depend on the size)."""
    found: dict[str, int] = {}
    for seed in range(500):
        found.setdefault(_render(seed, size=32).kind, seed)
        if len(found) == len(KINDS) + 1:
            return found
    raise AssertionError(f"only found kinds {sorted(found)}")


SEEDS = _seed_of_each_kind()


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _mtimes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


# --- images -----------------------------------------------------------------------------------


def test_render_is_deterministic_per_seed():
    a = render_radiograph(np.random.default_rng(7), 48, True, 0.15)
    b = render_radiograph(np.random.default_rng(7), 48, True, 0.15)
    c = render_radiograph(np.random.default_rng(8), 48, True, 0.15)
    assert a.dtype == np.uint8 and a.shape == (48, 48)
    assert a.tobytes() == b.tobytes()
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


def test_images_use_the_grey_range_like_a_radiograph():
    image = render_radiograph(np.random.default_rng(1), 128, False, 0.15)
    # Dark air or tissue and bright bone in the same picture, not a flat field.
    assert np.percentile(image, 5) < 60
    assert np.percentile(image, 99) > 180


@pytest.mark.parametrize("kind", [*KINDS, SUBTLE])
def test_fracture_changes_only_the_image_around_the_fracture(kind):
    size = 96
    fractured = _render(SEEDS[kind], size, fractured=True)
    healthy = _render(SEEDS[kind], size, fractured=False)
    assert (fractured.kind, healthy.kind) == (kind, None)
    rows, cols = np.nonzero(fractured.image != healthy.image)
    assert len(rows) > 0
    # Position of each changed pixel along the fractured bone, from the fracture line.
    along = (cols - fractured.center[0]) * fractured.axis[0]
    along = along + (rows - fractured.center[1]) * fractured.axis[1]
    if kind in ("displaced", "angulated"):
        # The distal part moves, but the proximal part and everything else stay put.
        assert along.min() > -0.2 * size
    else:
        assert np.abs(along).max() < 0.3 * size
        assert len(rows) < 0.1 * size * size


@pytest.mark.parametrize("kind", KINDS)
def test_non_subtle_fractures_stay_visible_at_64_px(kind):
    def small(rendering):
        image = Image.fromarray(rendering.image).resize((64, 64), Image.BILINEAR)
        return np.asarray(image, dtype=int)

    fractured = small(_render(SEEDS[kind], 128, fractured=True))
    healthy = small(_render(SEEDS[kind], 128, fractured=False))
    # A >= 3 px gap across a >= 5 px wide bone survives the downsampling as a patch of
    # clearly darker pixels; a 1 px line would not.
    assert ((healthy - fractured) > 30).sum() >= 15


def test_non_subtle_gaps_are_wide_and_in_the_middle_of_the_bone():
    for seed in range(60):
        rng = np.random.default_rng(seed)
        bones = draw_limb(rng).bones
        fracture = draw_fracture(rng, bones, subtle_fraction=0.0)
        bone = bones[fracture.bone]
        assert min(cut.width for cut in fracture.cuts) >= 0.03  # of the image side
        assert abs(fracture.cuts[0].offset) <= 0.5 * bone.half_length  # middle 25-75 %


def test_subtle_fraction_controls_the_share_of_subtle_fractures():
    def kinds(fraction):
        return {_render(seed, 32, subtle_fraction=fraction).kind for seed in range(40)}

    assert kinds(1.0) == {SUBTLE}
    assert SUBTLE not in kinds(0.0)


# --- spec -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("size", 16),
        ("size", True),
        ("seed", -1),
        ("train", -1),
        ("test", 2.5),
        ("fractured_fraction", 1.5),
        ("subtle_fraction", -0.1),
    ],
)
def test_spec_rejects_bad_values_naming_them(field, value):
    with pytest.raises(ConfigError, match=f"{field}={value!r}"):
        SyntheticSpec(**{field: value})


def test_spec_round_trips_through_its_dict():
    assert SyntheticSpec(**TINY.to_dict()) == TINY
    assert TINY.to_dict()["size"] == 32


# --- dataset ----------------------------------------------------------------------------------


def test_generate_writes_exact_counts_per_split_and_class(tmp_path):
    counts = generate_dataset(tmp_path, TINY)
    expected = {
        "train": {"fractured": 2, "not_fractured": 3},
        "val": {"fractured": 1, "not_fractured": 1},
        "test": {"fractured": 1, "not_fractured": 2},
    }
    assert counts == expected
    for split, by_class in expected.items():
        for name, n in by_class.items():
            paths = sorted((tmp_path / split / name).glob(f"{split}_*.png"))
            assert len(paths) == n
            with Image.open(paths[0]) as image:
                assert (image.mode, image.size) == ("L", (32, 32))
    assert _files(tmp_path)[0] == "fracture-synth.json"
    marker = json.loads((tmp_path / "fracture-synth.json").read_text())
    assert marker["spec"] == TINY.to_dict() and marker["counts"] == expected
    assert isinstance(marker["format"], int)


def test_an_image_does_not_depend_on_the_split_sizes(tmp_path):
    generate_dataset(tmp_path / "a", TINY)
    generate_dataset(tmp_path / "b", SyntheticSpec(**{**TINY.to_dict(), "train": 9, "val": 0}))
    name = "test/fractured/test_00000.png"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    with Image.open(tmp_path / "a" / name) as image:
        expected = render_radiograph(np.random.default_rng([3, 2, 0]), 32, True, 0.15)
        assert np.array_equal(np.asarray(image), expected)


def test_ensure_generates_into_a_fresh_root_without_leftovers(tmp_path):
    root = tmp_path / "synthetic"
    assert ensure_dataset(root, TINY) == root
    assert (root / "fracture-synth.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic"]


def test_ensure_reuses_a_matching_set_without_touching_it(tmp_path, monkeypatch):
    root = tmp_path / "synthetic"
    ensure_dataset(root, TINY)
    before = _mtimes(root)

    def fail(*args):
        raise AssertionError("regenerated an existing dataset")

    monkeypatch.setattr(synth_dataset, "generate_dataset", fail)
    assert ensure_dataset(str(root), SyntheticSpec(**TINY.to_dict())) == root
    assert _mtimes(root) == before


def test_ensure_refuses_a_set_made_from_another_spec(tmp_path):
    root = tmp_path / "synthetic"
    ensure_dataset(root, TINY)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(DataError, match="seed=3 \\(wanted 4\\)") as err:
        ensure_dataset(root, SyntheticSpec(**{**TINY.to_dict(), "seed": 4}))
    assert str(root) in str(err.value) and "\n" not in str(err.value)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_ensure_never_writes_into_a_foreign_directory(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty") as err:
        ensure_dataset(root, TINY)
    assert str(root) in str(err.value)
    assert _files(root) == ["notes.txt"] and (root / "notes.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_ensure_fills_an_empty_existing_directory(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    ensure_dataset(root, TINY)
    assert (root / "train" / "fractured" / "train_00000.png").is_file()


def test_ensure_accepts_the_result_of_a_process_that_won_the_race(tmp_path, monkeypatch):
    root = tmp_path / "synthetic"
    real_generate = synth_dataset.generate_dataset

    def race(staging, spec):
        real_generate(root, spec)  # another process finishes first...
        return real_generate(staging, spec)  # ...so renaming ours into place fails

    monkeypatch.setattr(synth_dataset, "generate_dataset", race)
    assert ensure_dataset(root, TINY) == root
    assert synth_dataset.read_marker(root)["spec"] == TINY.to_dict()
    assert [p.name for p in tmp_path.iterdir()] == ["synthetic"]


def test_unreadable_marker_is_a_one_line_error(tmp_path):
    (tmp_path / "fracture-synth.json").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        ensure_dataset(tmp_path, TINY)


# --- command line -----------------------------------------------------------------------------


def _cli(root, *extra):
    sizes = ["--seed", "3", "--size", "32", "--train", "3", "--val", "1", "--test", "2"]
    return main([str(root), *sizes, *extra])


def test_cli_generates_then_reuses(tmp_path, capsys):
    root = tmp_path / "synthetic"
    assert _cli(root) == 0
    out = capsys.readouterr().out
    assert "generated 6 images" in out and "train 2+1" in out and out.count("\n") == 1
    assert len(list(root.rglob("*.png"))) == 6
    before = _mtimes(root)
    assert _cli(root) == 0
    assert "reused 6 images" in capsys.readouterr().out
    assert _mtimes(root) == before


def test_cli_reports_errors_in_one_line_with_status_2(tmp_path, capsys):
    root = tmp_path / "synthetic"
    _cli(root)
    capsys.readouterr()
    assert _cli(root, "--subtle-fraction", "0.5") == 2
    err = capsys.readouterr().err
    assert err.startswith("fracture-synth: error: ") and str(root) in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_rejects_a_bad_value(tmp_path, capsys):
    assert main([str(tmp_path / "x"), "--size", "8"]) == 2
    assert "size=8" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
