"""FractureClassifier options that change how the backbone starts or runs."""

import torch

from fracture.models import FractureClassifier
from tests.conftest import bare_trainer


def test_zero_init_residual_zeroes_the_last_batchnorm_of_each_block():
    plain = FractureClassifier("resnet50", zero_init_residual=False)
    zeroed = FractureClassifier("resnet50", zero_init_residual=True)
    block = "layer3.2.bn3.weight"
    assert torch.all(zeroed.backbone.state_dict()[block] == 0)
    assert torch.all(plain.backbone.state_dict()[block] == 1)


def test_channels_last_gives_the_same_logits():
    torch.manual_seed(0)
    reference = FractureClassifier("resnet18").eval()
    fast = FractureClassifier("resnet18", channels_last=True).eval()
    fast.load_state_dict(reference.state_dict())
    assert fast.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    images = torch.randn(3, 3, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(fast(images), reference(images), atol=1e-4, rtol=1e-4)


def test_the_sanity_check_logs_no_metrics_of_a_one_class_prefix(tmp_path):
    # A class-ordered validation split (as split folders are read): the sanity check's first
    # batches hold one class. Their AUROC is undefined, and torchmetrics warned about it on
    # every run; the epochs, which see both classes, must still log every metric.
    import warnings

    from torch.utils.data import DataLoader, TensorDataset

    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0] * 8 + [1] * 8)
    ordered = DataLoader(TensorDataset(images, labels), batch_size=4, shuffle=False)
    trainer = bare_trainer(max_epochs=1, num_sanity_val_steps=2, default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="No (negative|positive) samples")
        trainer.fit(FractureClassifier("resnet18"), ordered, ordered)
    assert {
        "val_epoch/auroc",
        "val_epoch/specificity",
        "val_epoch/loss",
    } <= trainer.callback_metrics.keys()
