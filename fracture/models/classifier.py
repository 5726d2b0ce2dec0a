"""The LightningModule: a torchvision backbone and a two-logit head."""

from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryConfusionMatrix

from fracture.data.preprocessing import Preprocessing
from fracture.errors import DataError
from fracture.labels import CLASS_NAMES, FRACTURED
from fracture.lightning_compat import attached_trainer
from fracture.models.backbones import build_backbone, count_parameters
from fracture.models.decision import Decision
from fracture.models.metrics import CURVES, stage_metrics

CHECKPOINT_KEY = "fracture"  # where the preprocessing and the decision live in a checkpoint
# 2: "preprocessing" and "decision" apart; 1 (no "format"): the decision's fields inside
# "preprocessing".
CHECKPOINT_FORMAT = 2

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class FractureClassifier(L.LightningModule):
    """Fractured / not fractured classifier over a torchvision backbone.

    Args:
        backbone: Torchvision model name, e.g. ``"resnet50"``.
        weights: ``"imagenet"``, a weights file, or ``None`` for random initialisation.
        allow_download: Whether missing ImageNet weights may be downloaded.
        zero_init_residual: Zero-initialise ResNet residual branches (training from scratch).
        channels_last: Run convolutions in NHWC memory format (about 1.5x faster training
            on CPU with oneDNN, and what tensor cores want on GPU).
        compile: ``torch.compile`` the backbone (in place, so checkpoints keep their keys);
            the first steps are slower while it compiles, later ones faster on GPU.
        optimizer: Partial optimizer; called with the trainable parameter groups.
        scheduler: Partial learning-rate scheduler, stepped every epoch; ``None`` for none.
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        weights: str | None = None,
        allow_download: bool = True,
        zero_init_residual: bool = False,
        channels_last: bool = False,
        compile: bool = False,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ):
        super().__init__()
        # The factories are code, not data: keep them out of the checkpoint and the logger.
        self.save_hyperparameters(ignore=["optimizer", "scheduler"], logger=False)
        self.backbone, num_features = build_backbone(
            backbone, weights, allow_download, zero_init_residual
        )
        self.head = nn.Linear(num_features, len(CLASS_NAMES))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.backbone.to(memory_format=self.memory_format)
        if compile:
            # nn.Module.compile, not torch.compile(module): no `_orig_mod.` wrapper, so the
            # state dict loads into uncompiled models (predict, export, serve).
            self.backbone.compile()
        # Class weights for the loss (data.balance=loss_weights), set in setup from the data.
        # Not persistent: they describe a training set, not the model, and checkpoints must
        # load into a model built without them.
        self.register_buffer("class_weights", None, persistent=False)
        self.optimizer_factory = optimizer or torch.optim.Adam
        self.scheduler_factory = scheduler
        self.preprocessing = Preprocessing()
        self.decision = Decision()  # chosen after training: fracture.trained.checkpoints
        # ModuleDict keys may not shadow nn.Module attributes such as `train`, hence "train_stage".
        # The per-epoch curves, at threshold 0.5 (train/*, val_epoch/*). The test split is
        # never run through Lightning: evaluation (fracture.evaluation) scores it, at the
        # chosen threshold.
        self.metrics = nn.ModuleDict({_key(s): stage_metrics(s) for s in ("train", "val")})
        self.confusion = nn.ModuleDict({_key("val"): BinaryConfusionMatrix()})
        self.losses = nn.ModuleDict({_key("val"): MeanMetric()})

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) for normalised images (N, 3, H, W)."""
        return self.forward_head(self.forward_features(images))

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Backbone features (N, F) for normalised images (N, 3, H, W)."""
        images = images.contiguous(memory_format=self.memory_format)
        if self.training and not _needs_grad(self.backbone, images):
            # Frozen backbone (a linear probe): run it without autograd, so no graph or saved
            # activations exist for it. no_grad, not inference_mode: inference tensors cannot
            # be saved for the head's backward. Eval mode keeps autograd for Grad-CAM.
            with torch.no_grad():
                return self.backbone(images)
        return self.backbone(images)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N, 2) for backbone features (N, F)."""
        return self.head(features)

    def setup(self, stage: str) -> None:
        # Training's preprocessing is the truth that the checkpoint must carry.
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "preprocessing"):
            self.preprocessing = datamodule.preprocessing
        # One image (1, 3, S, S) for Lightning's model summary: its FLOPs and size columns.
        size = self.preprocessing.image_size
        self.example_input_array = torch.zeros(1, 3, size, size)
        if stage == "fit" and getattr(datamodule, "loss_weights", None) is not None:
            self.class_weights = datamodule.loss_weights.to(self.device)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def _step(self, batch, stage: str) -> torch.Tensor:
        inputs, labels = batch
        # Images (N, 3, H, W), or backbone features (N, F) cached by CachedFeatures.
        logits = self.forward_head(inputs) if inputs.ndim == 2 else self(inputs)
        loss = F.cross_entropy(logits, labels, weight=self.class_weights)
        probabilities = logits.detach().softmax(dim=1)[:, FRACTURED]  # (N,) P(fractured)
        if not self._sanity_checking():
            # The sanity check's two batches (of a class-ordered split: one class) only show
            # that validation runs; Lightning discards what they log, and AUROC on one class
            # would warn that it is undefined on every run.
            self._log_metrics(stage, probabilities, labels)
        self._log_loss(stage, loss, logits.detach(), labels)
        return loss

    def _sanity_checking(self) -> bool:
        trainer = attached_trainer(self)
        return trainer is not None and trainer.sanity_checking

    def _log_metrics(self, stage: str, probabilities: torch.Tensor, labels: torch.Tensor) -> None:
        # Logged as metric objects, never computed here: Lightning computes (and gathers over
        # ranks) every epoch value in one place, in logging order, on every rank alike.
        # Computing them in an epoch-end hook deadlocked DDP: callbacks' hooks run first, and
        # rank 0's progress bar alone asked Lightning for the synced values there (issue 18).
        metrics = self.metrics[_key(stage)]
        metrics.update(probabilities, labels)
        # Not on the progress bar: eight values wrap it; it shows the losses, and the epoch
        # lines and TensorBoard show the rest.
        self.log_dict(metrics, on_step=False, on_epoch=True)
        if _key(stage) in self.confusion:
            confusion = self.confusion[_key(stage)]
            confusion.update(probabilities, labels)
            # A 2x2 matrix: for callbacks (trainer.callback_metrics), not for the loggers.
            name = f"{CURVES[stage]}/confusion_matrix"
            self.log(name, confusion, on_epoch=True, logger=False)

    def _log_loss(
        self, stage: str, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor
    ) -> None:
        if stage == "train":
            # Every rank has as many training batches of the same size, so the mean over
            # ranks that sync_dist takes is the mean over all images.
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, sync_dist=True)
            return
        # The split's loss is sum(w_i * l_i) / sum(w_i) over all its images (w_i = 1 without
        # loss weights). A weighted cross_entropy is already divided by its batch's weight
        # sum, so averaging those means depends on the batching; the MeanMetric instead sums
        # w_i * l_i and w_i per image and gathers both sums exactly over ranks, whose shares
        # differ in size. (Lightning's sync_dist would average per-rank means instead.)
        per_image = F.cross_entropy(logits, labels, reduction="none")  # (N,)
        weights = torch.ones_like(per_image)
        if self.class_weights is not None:
            weights = self.class_weights[labels]
        mean = self.losses[_key(stage)]
        mean.update(per_image, weight=weights)
        self.log(f"{CURVES[stage]}/loss", mean, on_step=False, on_epoch=True, prog_bar=True)

    def on_train_epoch_start(self) -> None:
        # Counts change when the fine-tuning callback unfreezes layers, so log them per epoch.
        # Every rank logs them here, and Lightning syncs them with the other epoch values.
        for kind, count in count_parameters(self).items():
            self.log(f"params/{kind}", float(count), on_step=False, on_epoch=True, sync_dist=True)

    def configure_optimizers(self):
        # Only trainable parameters: a frozen backbone must not sit in the optimizer, where
        # weight decay or a later unfreeze would otherwise touch it with stale state.
        groups = [{"params": list(self.head.parameters()), "name": "head"}]
        backbone_params = [p for p in self.backbone.parameters() if p.requires_grad]
        if backbone_params:
            groups.append({"params": backbone_params, "name": "backbone"})
        optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "format": CHECKPOINT_FORMAT,
            "preprocessing": self.preprocessing.to_dict(),
            "decision": self.decision.to_dict(),
        }
        # The trained weights are in the state dict: reloading must not fetch ImageNet again.
        checkpoint["hyper_parameters"]["weights"] = None
        # Compiling is a training speed-up; models loaded for inference start uncompiled.
        checkpoint["hyper_parameters"]["compile"] = False

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        # Without it the model would silently predict with default preprocessing.
        if CHECKPOINT_KEY not in checkpoint:
            raise DataError(
                f"no '{CHECKPOINT_KEY}' metadata (preprocessing, threshold): not a checkpoint "
                "written by fracture-train; pass one that is, or its run directory"
            )
        self.preprocessing, self.decision = read_metadata(checkpoint[CHECKPOINT_KEY])


def read_metadata(metadata: dict) -> tuple[Preprocessing, Decision]:
    """The preprocessing and decision of a checkpoint's ``fracture`` entry, either format."""
    preprocessing = metadata["preprocessing"]
    if "decision" in metadata:
        decision = Decision.from_dict(metadata["decision"])
    else:  # format 1 kept them together, and fracture-train stored its choice in the best one
        decision = Decision.from_dict({**preprocessing, "chosen_by": "a format 1 checkpoint"})
    return Preprocessing.from_dict(preprocessing), decision


def _key(stage: str) -> str:
    return f"{stage}_stage"


def _needs_grad(backbone: nn.Module, images: torch.Tensor) -> bool:
    return images.requires_grad or any(p.requires_grad for p in backbone.parameters())
