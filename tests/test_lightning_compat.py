"""Lightning's internals that fracture uses exist in the installed Lightning, and only
fracture/lightning_compat.py touches them."""

import re
from pathlib import Path

import lightning as L
import lightning.pytorch.trainer.call as trainer_call
import torch
from torch.utils.data import DataLoader, TensorDataset

from fracture import lightning_compat
from fracture.models import FractureClassifier
from tests.conftest import bare_trainer

PACKAGE = Path(lightning_compat.__file__).parent
# What a module other than lightning_compat must not use: private Lightning modules and the
# attributes the compatibility module wraps.
INTERNALS = re.compile(
    r"lightning\.pytorch\.(overrides|loops|trainer\.(call|connectors))"
    r"|\.fit_loop\b|\.configure_ddp\(|\._trainer\b|lightning/pytorch/"
)


def test_the_hook_callers_and_the_loops_are_where_tracebacks_show_them():
    assert all(
        callable(getattr(trainer_call, name, None)) for name in lightning_compat.HOOK_CALLERS
    )
    assert (Path(L.__file__).parent / "pytorch" / "loops").is_dir()
    assert lightning_compat.LOOPS_PATH.startswith("lightning/pytorch/loops")


def test_next_epoch_and_the_attached_trainer_follow_a_real_fit(tmp_path):
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    loader = DataLoader(TensorDataset(images, torch.tensor([0, 1] * 4)), batch_size=4)
    model = FractureClassifier("resnet18")
    assert lightning_compat.attached_trainer(model) is None
    assert lightning_compat.next_epoch(None) == 0
    trainer = bare_trainer(max_epochs=2, default_root_dir=tmp_path)
    assert lightning_compat.next_epoch(trainer) == 0
    trainer.fit(model, loader)
    assert lightning_compat.attached_trainer(model) is trainer
    assert lightning_compat.next_epoch(trainer) == 2


def test_the_ddp_strategy_can_wrap_the_module_again():
    from lightning.pytorch.strategies import DDPStrategy

    assert callable(DDPStrategy.configure_ddp)
    assert issubclass(lightning_compat.UnrepeatedDistributedSampler, torch.utils.data.Sampler)


def test_no_other_module_touches_lightning_internals():
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "lightning_compat.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert offenders == []
