"""The model summary printed at fit start tells the truth about a frozen run."""

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_summary import summarize
from torch import nn

from tests.conftest import bare_trainer


class _SummaryAtFitStart(L.Callback):
    # Where Lightning's ModelSummary callback summarises the model.
    def on_fit_start(self, trainer, pl_module):
        self.summary = summarize(pl_module)
        self.in_eval = sum(not m.training for m in pl_module.modules())
        norms = [m for m in pl_module.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
        self.norms_training = [m.training for m in norms]


def test_frozen_groups_are_in_eval_and_flops_are_counted(tiny_cfg):
    cfg = tiny_cfg("experiment=frozen")
    capture = _SummaryAtFitStart()
    trainer = bare_trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        callbacks=[instantiate(cfg.finetune), capture],
    )
    model = instantiate(cfg.model)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    # Frozen BatchNorm is in eval before the first epoch, and the summary counts it so.
    assert capture.norms_training and not any(capture.norms_training)
    assert capture.summary.total_training_modes["eval"] == capture.in_eval > 0
    assert capture.summary.total_flops > 0  # from a (1, 3, 32, 32) example input
