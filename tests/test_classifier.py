"""FractureClassifier options that change how the backbone starts or runs."""

import torch

from fracture.models import FractureClassifier


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
