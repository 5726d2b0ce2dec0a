"""A spawned DDP rank that timed out in a collective, told in one line: which rank, which
hook, which collective.

A spawned rank's exception reaches the launching process only as the text of its traceback
(``torch.multiprocessing``'s ``ProcessRaisedException``), so the frames are read from text.
A collective times out when the ranks issued different collectives (a rank-dependent
code path) or one rank is stuck; the wait is ``trainer.strategy.timeout`` (conf/trainer/ddp*).
"""

import re
import traceback
from pathlib import Path

from torch.multiprocessing import ProcessRaisedException

from fracture.errors import FractureError
from fracture.lightning_compat import HOOK_CALLERS, LOOPS_PATH

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+), in (?P<name>\w+)$', re.M)
_WAITED = re.compile(r"timed out waiting (\d+) ?ms", re.I)
_DISTRIBUTED = "torch/distributed/"
_C10D = _DISTRIBUTED + "distributed_c10d.py"


class CollectiveTimeout(FractureError, RuntimeError):
    """A rank waited longer than the process-group timeout for a collective."""


def collective_timeout(error: Exception, rank: int) -> CollectiveTimeout | None:
    """The one-line error for ``rank`` if ``error`` ended its wait in a collective: its own
    timeout, or (gloo) the end of a peer that timed out first. ``None`` for other errors.

    Args:
        error: The rank's own exception (ranks started by SLURM or torchrun), or a spawned
            rank's as the launching process gets it (a ``ProcessRaisedException``).
        rank: The rank that raised it.
    """
    if isinstance(error, ProcessRaisedException):
        text = str(error).strip()
    else:
        text = "".join(traceback.format_exception(error)).strip()
    last = text.splitlines()[-1].lower()
    frames = [m.groupdict() for m in _FRAME.finditer(text)]
    collective = next((f["name"] for f in reversed(frames) if f["path"].endswith(_C10D)), None)
    if collective is None:
        return None
    where = f"{collective} in {_hook(frames)}"
    if "timed out" in last:
        waited = _WAITED.search(last)
        after = f" after {int(waited.group(1)) / 1000:g} s" if waited else ""
        return CollectiveTimeout(f"rank {rank} timed out{after} in {where}: {_CAUSE}")
    if "connection closed by peer" in last or "connection reset by peer" in last:
        # Gloo: the rank that timed out first ended, and its peers' waits broke off with it.
        return CollectiveTimeout(
            f"rank {rank} was waiting in {where} when another rank ended: {_CAUSE}"
        )
    return None


_CAUSE = (
    "a collective that another rank never joined (the ranks issued different collectives, or "
    "one is stuck or failed); the wait is set by trainer.strategy.timeout.seconds"
)


def _hook(frames: list[dict]) -> str:
    """``name (path:line)`` of the hook the rank was in; outside hooks, of the loop step."""
    torch_at = next((i for i, f in enumerate(frames) if _DISTRIBUTED in f["path"]), len(frames))
    before = frames[:torch_at] or frames
    callers = [i for i, f in enumerate(before) if f["name"] in HOOK_CALLERS]
    if callers and callers[-1] + 1 < len(before):
        frame = before[callers[-1] + 1]
    else:  # e.g. Lightning syncing the epoch's metrics between hooks
        frame = next((f for f in reversed(before) if LOOPS_PATH in f["path"]), before[-1])
    return f"{frame['name']} ({_short(frame['path'])}:{frame['line']})"


def _short(path: str) -> str:
    # Installed packages from their package directory, the user's files from the cwd.
    if "site-packages/" in path:
        return path.rsplit("site-packages/", 1)[1]
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path
