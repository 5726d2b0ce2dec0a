"""README's shell commands run as printed after `make train`, which installs into .venv/."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
# Programs that `make` installs into .venv/bin and that a fresh shell does not have on PATH.
VENV_PROGRAMS = re.compile(r"^(fracture-\w+|python3?|pytest|tensorboard|ruff)\b")


def bash_lines(text: str) -> list[str]:
    """The command lines of the ```bash blocks (continuation lines and comments left out)."""
    lines, inside, continued = [], False, False
    for line in text.splitlines():
        if line.startswith("```"):
            inside, continued = line.strip() == "```bash", False
            continue
        if inside and not continued and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
        continued = inside and line.rstrip().endswith("\\")
    return lines


def test_every_venv_program_in_readme_commands_has_the_venv_prefix():
    lines = bash_lines(README.read_text())
    assert any(line.startswith(".venv/bin/fracture-train") for line in lines)
    bare = [line for line in lines if VENV_PROGRAMS.match(line)]
    assert bare == [], "README commands that a fresh shell cannot run; prefix .venv/bin/"


def test_the_check_sees_a_bare_command():
    text = "```bash\nfracture-eval ckpt=x   # run\n.venv/bin/fracture-eval ckpt=y\n```\n"
    assert [line for line in bash_lines(text) if VENV_PROGRAMS.match(line)] == [
        "fracture-eval ckpt=x   # run"
    ]
