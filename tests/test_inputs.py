"""Prediction inputs: globs and folders list each real file once, never loop on symlinks."""

import glob
import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from fracture.inference.inputs import expand_inputs
from fracture.inference.walk import glob_files


@pytest.fixture
def tree(tmp_path) -> Path:
    """d/ with 10 images in two levels, a hidden folder and a text file."""
    folder = tmp_path / "d"
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    for i in range(5):
        (folder / f"{i}.png").write_bytes(b"png")
        (folder / "sub" / f"s{i}.png").write_bytes(b"png")
    for name in ("sub/deep/x.jpg", ".hidden/h.png", ".dot.png", "notes.txt"):
        (folder / name).write_bytes(b"x")
    return folder


def _expand_bounded(*args, seconds: float = 20) -> list[Path]:
    """expand_inputs in a forked process, killed after ``seconds`` (a loop must fail, not hang)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=lambda: send.send(expand_inputs(*args)), daemon=True)
    process.start()
    ready = receive.poll(seconds)
    process.kill()
    assert ready, f"expand_inputs{args} did not finish within {seconds} s"
    return receive.recv()


def test_recursive_globs_do_not_follow_directory_symlink_loops(tree, caplog):
    os.symlink(".", tree / "a")
    os.symlink(".", tree / "b")  # two loops: Python's glob never finishes
    os.symlink("..", tree / "sub" / "up")  # a loop through the parent
    found = _expand_bounded(f"{tree}/**/*.png")
    expected = [tree / f"{i}.png" for i in range(5)] + [
        tree / "sub" / f"s{i}.png" for i in range(5)
    ]
    assert sorted(found) == sorted(expected)


def test_symlinks_are_entered_when_asked_and_loops_reported_once(tree, tmp_path, caplog):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "e.png").write_bytes(b"png")
    os.symlink(outside, tree / "linked")
    os.symlink("..", tree / "sub" / "up")
    with caplog.at_level(logging.WARNING):
        default = expand_inputs(f"{tree}/**/*.png")
        followed = expand_inputs(f"{tree}/**/*.png", follow_symlinks=True)
    assert tree / "linked" / "e.png" not in default and len(default) == 10
    assert tree / "linked" / "e.png" in followed and len(followed) == 11
    loops = [r.message for r in caplog.records if "symlink loop" in r.message]
    assert len(loops) == 1 and str(tree / "sub" / "up") in loops[0]
    assert any("not followed" in r.message for r in caplog.records)


def test_each_real_file_is_listed_once_under_its_first_name(tree):
    os.symlink(tree / "0.png", tree / "sub" / "alias.png")
    found = expand_inputs([str(tree / "sub" / ".." / "1.png"), str(tree), f"{tree}/*/*.png"])
    real = [os.path.realpath(p) for p in found]
    assert len(real) == len(set(real)) == 12  # 10 + sub/deep/x.jpg + .hidden/h.png
    assert found[0] == tree / "sub" / ".." / "1.png"


@pytest.mark.parametrize(
    "pattern",
    [
        "**/*.png",
        "*.png",
        "*/*.png",
        "**",
        "s*/**/*",
        ".*/*.png",
        "**/.*",
        "**/deep",
        "*/s[0-2].png",
    ],
)
def test_globs_match_as_pythons_glob_on_a_tree_without_links(tree, pattern, monkeypatch):
    monkeypatch.chdir(tree)
    expected = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    assert glob_files(pattern) == expected
    assert glob_files(str(tree / pattern)) == [tree / p for p in expected]
