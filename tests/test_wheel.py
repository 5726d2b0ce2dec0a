"""The package as users install it: a built wheel (not editable), run from an empty folder,
with a user's own configs added by ``--config-dir``."""

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CONF_DIR

REPO = Path(__file__).resolve().parents[1]


def _build_wheel(out: Path) -> Path:
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    subprocess.run([*command, "-q", "-w", str(out), str(REPO)], check=True)
    (wheel,) = out.glob("fracture-*.whl")
    return wheel


def _fresh_env(root: Path, wheel: Path) -> Path:
    """A new venv holding the wheel; the dependencies come from this environment's
    site-packages as a plain path (so its ``.pth`` files, the editable install's among them,
    are not processed and cannot put the repository's ``fracture`` first)."""
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*install, "--no-deps", "--no-index", str(wheel)], check=True)
    return root / "bin"


def _user_configs(root: Path, data_root: Path) -> Path:
    """A user's config folder: their own dataset and experiment, beside the shipped ones."""
    (root / "data").mkdir(parents=True)
    (root / "experiment").mkdir()
    (root / "data" / "my_xrays.yaml").write_text(
        "defaults:\n  - _common\n  - _self_\n"
        f"root: {data_root}\n"
        "source:\n  _target_: fracture.data.sources.SplitFolders\n  root: ${..root}\n"
        "image_size: 32\nresize_size: 32\nbatch_size: 8\nnum_workers: 0\n"
    )
    (root / "experiment" / "my_probe.yaml").write_text(
        "# @package _global_\nname: my_probe\nseed: 7\n"
        "model:\n  backbone: resnet18\n"
        "trainer:\n  max_epochs: 1\n  enable_progress_bar: false\n"
    )
    return root


def test_the_wheel_holds_every_config(tmp_path):
    names = set(zipfile.ZipFile(_build_wheel(tmp_path)).namelist())
    shipped = {f"fracture/conf/{p.relative_to(CONF_DIR)}" for p in CONF_DIR.rglob("*.yaml")}
    assert len(shipped) > 30
    assert shipped <= names


@pytest.mark.slow
@pytest.mark.e2e
def test_a_wheel_install_trains_with_user_configs_from_an_empty_folder(tmp_path, tiny_root):
    bin_dir = _fresh_env(tmp_path / "venv", _build_wheel(tmp_path / "dist"))
    work = tmp_path / "empty"
    work.mkdir()
    # Nothing of the repository on the path: no PYTHONPATH, and not its folder as cwd.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [bin_dir / "python", "-c", "import fracture; print(fracture.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(tmp_path / "venv"))
    configs = _user_configs(tmp_path / "my_conf", tiny_root)
    command = [bin_dir / "fracture-train", "--config-dir", configs]
    result = subprocess.run(
        [*command, "data=my_xrays", "experiment=my_probe", f"paths.cache_dir={tmp_path / 'c'}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (work / "logs" / "runs").glob("*_my_probe")
    assert (run_dir / "metrics.json").is_file()
    assert "test/auroc" in (run_dir / "metrics.json").read_text()
