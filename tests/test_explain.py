"""Class activation maps: shape and range, no side effects, ensembles, overlays, the callback."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from omegaconf import open_dict
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchvision.transforms import v2

from fracture.callbacks.gradcam import TAG, GradCamGrid, _pick
from fracture.data.preprocessing import Preprocessing
from fracture.data.samples import Sample
from fracture.errors import ConfigError
from fracture.inference.explain import METHODS, explain, last_stage, model_view, overlay_image
from fracture.models import FractureClassifier
from fracture.models.decision import Decision
from fracture.synth import SyntheticSpec, generate_dataset, render_radiograph, render_with_kind
from fracture.train import train
from fracture.trained.predictor import Predictor, ProbabilityModel, load_predictor
from tests.conftest import compose_config

SIZE = 64
PREPROCESSING = Preprocessing(image_size=SIZE, resize_size=SIZE)


def _member(seed: int) -> FractureClassifier:
    torch.manual_seed(seed)
    return FractureClassifier(backbone="resnet18", weights=None, channels_last=True).eval()


def _predictor(*members: FractureClassifier) -> Predictor:
    model = ProbabilityModel(list(members), [1.0] * len(members)).eval()
    return Predictor(model, PREPROCESSING, Decision(), sources=[], digest="")


def _images(count: int = 4) -> torch.Tensor:
    transform = PREPROCESSING.eval_transform()
    rngs = [np.random.default_rng([1, i]) for i in range(count)]
    grays = [render_radiograph(rng, SIZE, i % 2 == 0, 0.0) for i, rng in enumerate(rngs)]
    return torch.stack([transform(Image.fromarray(g)) for g in grays])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_maps_have_the_input_size_and_lie_in_the_unit_range(method):
    maps = explain(_predictor(_member(0)), _images(), method)
    assert maps.shape == (4, SIZE, SIZE) and maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    assert all(cam.std() > 0.01 for cam in maps)  # not constant


def test_explaining_leaves_the_model_as_it_was():
    predictor = _predictor(_member(0))
    member = predictor.model.members[0].train()
    member.backbone.layer1.requires_grad_(False)  # a partly frozen backbone, as in fine-tuning
    member.backbone.bn1.eval()  # BackboneFreeze keeps frozen BatchNorm in eval mode
    for p in member.head.parameters():
        p.grad = torch.ones_like(p)  # gradients accumulated by training so far
    modes = {name: m.training for name, m in member.named_modules()}
    flags = {name: p.requires_grad for name, p in member.named_parameters()}
    grads = {name: p.grad for name, p in member.named_parameters()}
    state = {k: v.clone() for k, v in member.state_dict().items()}
    images = _images()

    with torch.inference_mode():  # as in a validation loop
        explain(predictor, images)

    assert not last_stage(member.backbone)._forward_hooks
    assert all(not m._forward_hooks and not m._backward_hooks for m in member.modules())
    assert {name: m.training for name, m in member.named_modules()} == modes
    assert {name: p.requires_grad for name, p in member.named_parameters()} == flags
    assert all(p.grad is grads[name] for name, p in member.named_parameters())
    for key, value in member.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, state[key]), key
    member.eval()
    with torch.no_grad():
        torch.testing.assert_close(member(images), _member(0).eval()(images))


def test_ensemble_map_is_the_mean_of_its_members_maps():
    first, second = _member(0), _member(1)
    images = _images()
    ensemble = explain(_predictor(first, second), images)
    members = [explain(_predictor(m), images) for m in (first, second)]
    np.testing.assert_allclose(ensemble, (members[0] + members[1]) / 2, atol=1e-6)
    assert not np.allclose(members[0], members[1])  # the check would be empty otherwise


def test_last_stage_is_found_for_convolutional_backbones_only():
    resnet = torchvision.models.resnet18()
    assert last_stage(resnet) is resnet.layer4[-1]
    mobilenet = torchvision.models.mobilenet_v3_small()
    assert last_stage(mobilenet) is mobilenet.features[-1]
    for name in ("vit_b_32", "swin_t"):  # tokens / channels-last maps: no CAM without a reshape
        with pytest.raises(ConfigError, match="convolutional backbone"):
            last_stage(torchvision.models.get_model(name))


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="gradcam"):
        explain(_predictor(_member(0)), _images(1), method="nope")


def test_overlay_is_the_model_view_upscaled_with_a_caption():
    gray = render_radiograph(np.random.default_rng(5), 128, True, 0.0)[:, 16:112]  # 128 x 96
    preprocessing = Preprocessing(image_size=SIZE, resize_size=72)
    cam = np.tile(np.linspace(0, 1, SIZE, dtype=np.float32), (SIZE, 1))
    low = np.asarray(overlay_image(gray, cam, 0.1, 0.5, preprocessing))
    high = np.asarray(overlay_image(gray, cam, 0.9, 0.5, preprocessing))
    assert low.shape == (256, 256, 3)  # 64 px upscaled 4x
    assert (low[:64, :128] != high[:64, :128]).any()  # the caption, top left, differs
    np.testing.assert_array_equal(low[128:, 128:], high[128:, 128:])  # and nothing else

    # Geometry: torchvision's own resize and centre crop of the file give the same overlay.
    view = v2.CenterCrop(SIZE)(v2.Resize(72, antialias=True)(v2.ToImage()(Image.fromarray(gray))))
    np.testing.assert_array_equal(low, np.asarray(overlay_image(view[0].numpy(), cam, 0.1, 0.5)))


def test_overlay_refuses_an_image_that_does_not_match_the_map():
    with pytest.raises(ValueError, match="pass preprocessing"):
        overlay_image(np.zeros((80, 80), np.uint8), np.zeros((SIZE, SIZE), np.float32), 0.5, 0.5)


def test_model_view_undoes_the_normalisation():
    gray = render_radiograph(np.random.default_rng(2), SIZE, False, 0.0)
    tensor = PREPROCESSING.eval_transform()(Image.fromarray(gray))
    np.testing.assert_array_equal(model_view(tensor[None], PREPROCESSING)[0], gray)


def test_grid_takes_both_classes_in_turn():
    class Dataset:
        def __init__(self):
            self.samples = [Sample(f"{i}.png", y) for i, y in enumerate([0, 0, 0, 1, 1, 0])]

        def __len__(self):
            return len(self.samples)

    assert _pick(Dataset(), 4) == [3, 0, 4, 1]
    assert _pick(Dataset(), 10) == [3, 0, 4, 1, 2, 5]  # the larger class fills in


def test_callback_rejects_bad_settings():
    with pytest.raises(ConfigError):
        GradCamGrid(every_n_epochs=-1)
    with pytest.raises(ConfigError):
        GradCamGrid(method="nope")


@pytest.mark.slow
def test_callback_logs_the_grid_without_changing_training(tiny_cfg, tmp_path):
    weights = {}
    for every in (1, 0):
        run = tmp_path / f"every{every}"
        cfg = tiny_cfg(
            "finetune=full", "test=false", f"callbacks.gradcam.every_n_epochs={every}", run_dir=run
        )
        train(cfg)
        events = EventAccumulator(str(run), size_guidance={"images": 0})
        events.Reload()
        logged = events.Images(TAG) if TAG in events.Tags()["images"] else []
        assert len(logged) == 2 * every  # once per epoch of the two, or never
        weights[every] = torch.load(run / "checkpoints" / "last.ckpt")["state_dict"]
    for key, value in weights[1].items():  # same seed, same data: identical training
        assert torch.equal(value, weights[0][key]), key


# --- Localisation: does the CAM of a model that learnt the task point at the fracture? -----

# 128 px, so the last stage is a 4x4 map: at 64 px it is 2x2, every cell sees the whole image,
# and a ResNet18 that learnt the task (85 % held-out accuracy) gave a median band/elsewhere
# ratio of 0.95, no localisation at all. MobileNetV3-small is the backbone cheap enough to
# learn the task at 128 px on one CPU thread in about 1.5 minutes.
LOCALISATION_RUN = [
    "data=folder",
    "data.image_size=128",
    "data.resize_size=128",
    "data.batch_size=16",
    "data.num_workers=0",
    "data.augment=null",
    "model.backbone=mobilenet_v3_small",
    "model.zero_init_residual=false",  # a ResNet option
    "model.scheduler.step_size=4",
    "finetune=full",
    "trainer.max_epochs=6",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "callbacks.early_stopping=null",  # validation sits at chance for the first epochs
    "logger=csv",  # the learning-rate monitor needs a logger; csv is the cheapest
    "test=false",
    "seed=1",
]
HELD_OUT = 60
BAND = 5  # px around the changed pixels; a 4x4 map has 32 px cells at 128 px
LOCALISES = 0.6  # the share of held-out fractured images that must pass


def _learned_predictor(tmp_path) -> Predictor:
    spec = SyntheticSpec(seed=5, size=128, train=2000, val=64, test=16, subtle_fraction=0.1)
    generate_dataset(tmp_path / "data", spec)
    cfg = compose_config(
        [*LOCALISATION_RUN, f"data.root={tmp_path / 'data'}", f"data.cache_dir={tmp_path}/cache"]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    train(cfg)
    return load_predictor(tmp_path / "run" / "checkpoints" / "last.ckpt")


def _held_out_twins(size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractured images, their healthy twins and the band around the fracture, (N, S, S) each.

    The same random stream rendered without the fracture differs only at the fracture
    (gap, moved fragment), so the pixel difference marks it exactly.
    """
    broken, healthy = (
        np.stack(
            [
                render_with_kind(np.random.default_rng([99, 7, i]), size, fractured, 0.1).image
                for i in range(HELD_OUT)
            ]
        )
        for fractured in (True, False)
    )
    changed = np.abs(broken.astype(int) - healthy.astype(int)) > 8
    return broken, healthy, _dilate(changed, BAND)


def _dilate(masks: np.ndarray, radius: int) -> np.ndarray:
    grown = F.max_pool2d(torch.from_numpy(masks).float(), 2 * radius + 1, 1, radius)
    return grown.numpy() > 0


def _band_ratios(cams: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Mean CAM inside the band over mean CAM elsewhere (bone and background), per image."""
    pairs = zip(cams, bands, strict=True)
    return np.array([cam[band].mean() / max(cam[~band].mean(), 1e-6) for cam, band in pairs])


def _localisation(broken_cams: np.ndarray, healthy_cams: np.ndarray, bands: np.ndarray) -> float:
    """Share of images whose map is 1.2x higher in the band than elsewhere, and 1.2x more so
    than the map of the healthy twin in the same band.

    The twin term is needed: fractures lie on the bone, in the middle half of the image, so a
    map of the bone or a centred blob beats 1.2 in the band on 93-100 % of the images too.
    Random 4x4 maps score 0.10-0.27 (five draws); blob, bone and inverted image 0.
    """
    own, twin = _band_ratios(broken_cams, bands), _band_ratios(healthy_cams, bands)
    return float(np.mean((own > 1.2) & (own > 1.2 * twin)))


def _inputs(predictor: Predictor, images: np.ndarray) -> torch.Tensor:
    transform = predictor.preprocessing.eval_transform()
    return torch.stack([transform(Image.fromarray(image)) for image in images])


@pytest.mark.slow
def test_cam_of_a_learnt_model_points_at_the_fracture(tmp_path):
    predictor = _learned_predictor(tmp_path)
    broken, healthy, bands = _held_out_twins()
    inputs = [_inputs(predictor, images) for images in (broken, healthy)]
    with torch.no_grad():
        detected = (predictor.model(inputs[0]).mean(dim=1) >= 0.5).float().mean().item()
    assert detected >= 0.75  # it learnt the task; otherwise its maps mean nothing
    # Measured: 0.78, 0.85, 0.82 with training seeds 1-3 (Grad-CAM++ 0.83 with seed 1).
    assert _localisation(*(explain(predictor, x) for x in inputs), bands) >= LOCALISES

    # Maps that do not look at the fracture fail: random ones on the same 4x4 grid, a centred
    # blob, and the bone itself (the image as its own map).
    noise = torch.rand(2, HELD_OUT, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    random = [F.interpolate(n, size=bands.shape[1:], mode="bilinear")[:, 0].numpy() for n in noise]
    axis = np.linspace(-1, 1, bands.shape[1])
    blob = np.broadcast_to(np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / 0.5), bands.shape)
    assert _localisation(*random, bands) < LOCALISES
    assert _localisation(blob, blob, bands) < LOCALISES
    assert _localisation(broken / 255, healthy / 255, bands) < LOCALISES
