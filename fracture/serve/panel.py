"""What the page's model panel and image views need besides predictions: the checkpoint's card,
the size of its class activation map, a PNG preview of any upload and the CAM as layers."""

import base64
import io

import cv2
import numpy as np
import torch
from PIL import Image

from fracture.data.decode import read_radiograph
from fracture.errors import FractureError
from fracture.evaluation.model_card import read_card
from fracture.inference.explain import MIN_SIDE, explain, last_stage, model_view, overlay_image
from fracture.trained.predictor import Predictor

PREVIEW_SIDE = 512  # longest side of a preview: enough for the page, small to send
# Below this grid a map cannot point at a bone region: a ResNet's map is image_size / 32, so
# 7 x 7 is what it gives at the 224 px it was designed for (at 64 px it is 2 x 2).
MIN_CAM_GRID = 7


def stored_card(predictor: Predictor) -> dict | None:
    """The card of a single checkpoint (``None``: an ensemble, or a checkpoint without one)."""
    return None if predictor.is_ensemble else read_card(predictor.sources[0])


def cam_grid(predictor: Predictor) -> list[int] | None:
    """(rows, columns) of the first member's map at the model's input size; None without one."""
    member = predictor.model.members[0]
    try:
        stage = last_stage(member.backbone)
    except FractureError:
        return None
    shapes = []
    handle = stage.register_forward_hook(lambda module, args, out: shapes.append(out.shape))
    side = predictor.preprocessing.image_size
    try:
        with torch.inference_mode():
            member.backbone(torch.zeros(1, 3, side, side))
    finally:
        handle.remove()
    return list(shapes[0][-2:])


def preview_png(data: bytes, max_pixels: int) -> bytes:
    """The upload decoded as every tool decodes it (DICOM, 16-bit, ...), as a PNG."""
    image = read_radiograph(io.BytesIO(data), max_pixels)  # raises UnreadableImage
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return _png(image)


def explain_layers(predictor: Predictor, batch: torch.Tensor, probability: float, method: str):
    """The captioned overlay, and its two layers (model view, coloured CAM) as data URLs, so
    the page can set the map's opacity. One Grad-CAM pass for all three."""
    cam = explain(predictor, batch, method)[0]
    view = model_view(batch, predictor.preprocessing)[0]
    overlay = overlay_image(view, cam, probability, predictor.threshold)
    # cv2's JET, as the overlay's show_cam_on_image uses; BGR -> RGB.
    colours = cv2.applyColorMap(np.uint8(255 * cam), cv2.COLORMAP_JET)[..., ::-1]
    return {
        "overlay": _data_url(overlay),
        "view": _data_url(_upscaled(Image.fromarray(view))),
        "cam": _data_url(_upscaled(Image.fromarray(np.ascontiguousarray(colours)))),
    }


def _upscaled(image: Image.Image) -> Image.Image:
    # The overlay's own scaling: every model-input pixel a visible square.
    scale = max(1, round(MIN_SIDE / image.height))
    return image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(image)).decode("ascii")
