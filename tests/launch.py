"""Console scripts launched as a user launches them, with a deadline instead of a hang."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_data

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def launch(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``args``; past ``timeout`` seconds kill the whole process group (spawned DDP ranks
    included) and fail the test with the end of its stderr."""
    # Spawned ranks import tests.callbacks, like the launching process.
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    with subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{Path(args[0]).name} hung for {timeout} s:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def launch_train(root, tmp_path, *overrides: str, timeout: int):
    """``fracture-train`` on the tiny set with the shipped callbacks, loggers and progress bar:
    as users launch it, unlike ``tiny_config``."""
    return launch(
        str(BIN / "fracture-train"),
        *tiny_data(root, tmp_path / "cache"),
        "data.batch_size=8",
        "trainer.max_epochs=2",
        "seed=7",
        *overrides,
        timeout=timeout,
    )
