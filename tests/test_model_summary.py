"""The model summary printed at fit start tells the truth about a frozen run."""

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.utilities.model_summary import summarize


class _SummaryAtFitStart(L.Callback):
    # Where Lightning's ModelSummary callback summarises the model.
    def on_fit_start(self, trainer, pl_module):
        self.summary = summarize(pl_module)


def test_frozen_groups_are_in_eval_and_flops_are_counted(tiny_cfg):
    cfg = tiny_cfg("experiment=frozen")
    capture = _SummaryAtFitStart()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[instantiate(cfg.finetune), capture],
    )
    model = instantiate(cfg.model)
    trainer.fit(model, datamodule=instantiate(cfg.data))
    modes = capture.summary.total_training_modes
    backbone_modules = len(list(model.backbone.modules()))
    assert modes["eval"] >= backbone_modules - 1  # the whole frozen backbone (its root aside)
    assert capture.summary.total_flops > 0  # from a (1, 3, 32, 32) example input
