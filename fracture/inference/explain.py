"""Class activation maps: where in an image a model finds its evidence of a fracture.

The maps come from ``pytorch_grad_cam`` (Grad-CAM and relatives) on the last stage of each
member's backbone (the backbone adapter's ``cam_layer``), for the *fractured* logit. Computing
them leaves the model as it was: no hooks, the same train/eval mode, ``requires_grad`` flags and
``.grad`` tensors.

The last stage of a torchvision CNN is 1/32 of the input side: 4x4 cells at 128 px, only
2x2 at 64 px. At 64 px every cell sees the whole image and the map says little about where:
on synthetic radiographs a ResNet18 with 85 % held-out accuracy gave maps no closer to the
fracture than elsewhere, while a MobileNetV3 at 128 px put them on it (tests/test_explain.py).
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from fracture.data.preprocessing import Preprocessing
from fracture.errors import ConfigError
from fracture.labels import FRACTURED
from fracture.models.adapter import cam_layer
from fracture.trained.predictor import Predictor

METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "hirescam": HiResCAM}
MIN_SIDE = 256  # overlays are upscaled by a whole factor to about this, so the caption is legible
_HEATMAP_SHARE = 0.4  # of the overlay's colour; the radiograph keeps the rest


def explain(predictor: Predictor, images: torch.Tensor, method: str = "gradcam") -> np.ndarray:
    """Class activation maps of *fractured* for a batch of preprocessed images.

    Args:
        predictor: A model or ensemble; an ensemble's map is the mean of its members' maps.
        images: Normalised images (N, 3, S, S), as ``predictor.preprocessing`` makes them.
        method: A key of :data:`METHODS`.

    Returns:
        float32 maps (N, S, S) in [0, 1], each member's map scaled to [0, 1] per image.

    Raises:
        ConfigError: An unknown method, or a backbone without a known last stage.
    """
    return class_activation_maps(list(predictor.model.members), images, method)


def class_activation_maps(
    members: Sequence[nn.Module], images: torch.Tensor, method: str = "gradcam"
) -> np.ndarray:
    """Like :func:`explain`, for classifiers (``.backbone``, logits out) not in a Predictor."""
    cam_class = _method(method)
    # Gradients are needed even when called from a validation loop (inference mode).
    with torch.inference_mode(False), torch.enable_grad():
        # A fresh tensor that requires grad: inference tensors cannot enter autograd, and the
        # last stage's activations then carry gradients even with every parameter frozen.
        images = images.detach().clone().requires_grad_(True)
        maps = [_member_cam(member, images, cam_class) for member in members]
    return np.mean(maps, axis=0).astype(np.float32)


# The name the server and older callers use for the adapter's Grad-CAM target layer.
last_stage = cam_layer


def _method(name: str):
    if name not in METHODS:
        raise ConfigError(f"unknown CAM method {name!r}; use one of {', '.join(METHODS)}")
    return METHODS[name]


def _member_cam(member: nn.Module, images: torch.Tensor, cam_class) -> np.ndarray:
    targets = [ClassifierOutputTarget(FRACTURED)] * len(images)
    with _model_state_kept(member):
        cam = cam_class(model=member, target_layers=[cam_layer(member.backbone)])
        # release() is the library's cleanup (its context manager calls it too, but also
        # swallows IndexError, which would turn a bug into a missing return value).
        try:
            return cam(input_tensor=images, targets=targets)
        finally:
            cam.activations_and_grads.release()


@contextmanager
def _model_state_kept(model: nn.Module) -> Iterator[None]:
    """Restores each module's train/eval mode and each parameter's requires_grad and grad.

    The CAM switches the model to eval and calls ``zero_grad()`` before its backward pass;
    in a training run that would drop BatchNorm modes and accumulated gradients.
    """
    modes = {module: module.training for module in model.modules()}
    params = {p: (p.requires_grad, p.grad) for p in model.parameters()}
    model.requires_grad_(False)  # the backward pass then reaches only the activations
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training
        for param, (requires_grad, grad) in params.items():
            param.requires_grad_(requires_grad)
            param.grad = grad


def model_view(images: torch.Tensor, preprocessing: Preprocessing) -> np.ndarray:
    """The grayscale images (N, S, S) uint8 that normalised model inputs (N, 3, S, S) show."""
    # The three channels are one grayscale image, normalised with the first mean/std.
    gray = images[:, 0].detach().float().cpu() * preprocessing.std[0] + preprocessing.mean[0]
    return (gray.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def overlay_image(
    gray: np.ndarray,
    cam: np.ndarray,
    probability: float,
    threshold: float,
    preprocessing: Preprocessing | None = None,
) -> Image.Image:
    """The radiograph as the model saw it, the heatmap over it, and the decision in a corner.

    Args:
        gray: uint8 grayscale radiograph (H, W), e.g. ``np.asarray(read_radiograph(path))``.
        cam: A map (S, S) in [0, 1] from :func:`explain`.
        probability: P(fractured) of the image.
        threshold: Decision threshold; at or above it the caption says *fractured*.
        preprocessing: Resizes and crops ``gray`` exactly like the model input (the predictor's
            eval transform); ``None`` when ``gray`` already is the model's (S, S) view.

    Returns:
        An RGB image, upscaled by a whole factor to about :data:`MIN_SIDE` pixels.
    """
    view = gray if preprocessing is None else _as_model_input(gray, preprocessing)
    if view.shape != cam.shape:
        raise ValueError(f"image {view.shape} and CAM {cam.shape} differ; pass preprocessing")
    rgb = np.repeat(view[..., None].astype(np.float32) / 255, 3, axis=2)
    blended = show_cam_on_image(rgb, cam, use_rgb=True, image_weight=1 - _HEATMAP_SHARE)
    scale = max(1, round(MIN_SIDE / cam.shape[0]))
    # Nearest neighbour: every model-input pixel stays a visible square, nothing invented.
    image = Image.fromarray(blended).resize(
        (cam.shape[1] * scale, cam.shape[0] * scale), Image.Resampling.NEAREST
    )
    _caption(image, probability, threshold)
    return image


def _as_model_input(gray: np.ndarray, preprocessing: Preprocessing) -> np.ndarray:
    # The eval transform itself, undone only in intensity: the geometry cannot drift from it.
    tensor = preprocessing.eval_transform()(Image.fromarray(gray))
    return model_view(tensor[None], preprocessing)[0]


def _caption(image: Image.Image, probability: float, threshold: float) -> None:
    decision = "fractured" if probability >= threshold else "not fractured"
    text = f"P(fractured) {probability:.2f}\n{decision}"
    font = ImageFont.load_default(size=max(10, image.width // 18))
    draw = ImageDraw.Draw(image)
    pad = max(2, image.width // 64)
    box = draw.multiline_textbbox((2 * pad, 2 * pad), text, font=font)
    # A dark box: white text stays readable over any heatmap colour.
    draw.rectangle((pad, pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
    draw.multiline_text((2 * pad, 2 * pad), text, font=font, fill=(255, 255, 255))
