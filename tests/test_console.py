"""The console scripts' help: fast (no torch import), with descriptions, defaults and only
real choices."""

import subprocess
import sys

import pytest

from fracture.console import COMMANDS, help_text


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_describes_settings_with_defaults(name):
    command = COMMANDS[name]
    text = help_text(command)
    assert text.startswith(f"{command.script}: {command.about}")
    assert "ckpt: ???" in text or name == "train"
    settings = text.split("Settings")[1]
    assert "#" in settings and "defaults:" not in settings and "hydra:" not in settings


def test_train_help_lists_groups_without_private_bases():
    text = help_text(COMMANDS["train"])
    groups = _group_lines(text)
    assert groups["data"].split(", ")[-1] == "synthetic*"
    assert "_common" not in text
    assert groups["experiment"].startswith("finetune, frozen, frozen_features, ")
    assert groups["experiment"].endswith(" (none by default)")
    assert "seed: 42" in text and "# seeds torch" in text


def _group_lines(text: str) -> dict[str, str]:
    block = text.split("Config groups (group=choice; * the default):\n")[1].split("\n\n")[0]
    return dict(line.strip().split(": ", 1) for line in block.splitlines())


@pytest.mark.parametrize("flags", [["--help"], ["--cfg", "job", "experiment=finetune"]])
def test_help_and_inspection_flags_never_import_torch(flags):
    probe = (
        "import sys; sys.argv = ['fracture-train', *sys.argv[1:]]\n"
        "from fracture.console import train; train()\n"
        "print('torch imported:', 'torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *flags], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.rstrip().endswith("torch imported: False")
    assert ("fracture-train:" in result.stdout) == (flags == ["--help"])
    assert ("name: finetune" in result.stdout) == (flags != ["--help"])


@pytest.mark.parametrize("name", ["audit", "compare", "bench"])
def test_argparse_commands_answer_help_without_torch(name):
    probe = (
        "import sys\n"
        f"sys.argv = ['fracture-{name}', '--help']\n"
        "from fracture import console\n"
        "try:\n"
        f"    console.{name}()\n"
        "except SystemExit as end:\n"
        "    assert end.code == 0, end.code\n"
        "print('torch imported:', 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"usage: fracture-{name}" in result.stdout
    assert result.stdout.rstrip().endswith("torch imported: False")


def test_help_piped_into_a_reader_that_leaves_early_prints_no_traceback():
    # `fracture-train --help | head -3`: the pipe closes before the help is written.
    probe = (
        "import sys; sys.argv = ['fracture-train', '--help']\n"
        "from fracture.console import train; train()"
    )
    reader = "import sys; sys.stdin.readline()"  # one line, then exits and closes the pipe
    head = subprocess.Popen([sys.executable, "-c", reader], stdin=subprocess.PIPE)
    # Larger than a pipe's buffer, so the writer meets the closed pipe.
    padded = probe.replace("train()", "[train() for _ in range(200)]")
    result = subprocess.run(
        [sys.executable, "-c", padded], stdout=head.stdin, stderr=subprocess.PIPE, text=True
    )
    head.stdin.close()
    head.wait(timeout=60)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr
    assert result.returncode == 1
