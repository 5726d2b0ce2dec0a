"""Attenuation maps of a limb: one or two long bones inside a soft-tissue envelope.

Lengths are in units of the image side with the origin at the image centre, so a
scene looks the same at any pixel size. Attenuation is a line integral along the
beam: each bone is a hollow cylinder (cortex around a medullary canal) whose
projection at perpendicular distance ``d`` from the centreline crosses
``chord(R, d) - chord(r, d)`` of cortex and ``chord(r, d)`` of canal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Bone:
    """One long bone; ``s`` runs along its axis and ``d`` across it."""

    center: tuple[float, float]
    angle: float  # axis direction in the image, radians
    half_length: float
    radius: float  # outer radius of the shaft
    canal_ratio: float  # canal radius / outer radius in the shaft
    flare: tuple[float, float]  # relative widening of the epiphysis at the -s and +s end
    flare_start: float  # |s| / half_length where the widening begins
    skew: tuple[float, float]  # sideways offset of each epiphysis, relative to its widening
    bow: float  # lateral bowing of the shaft at mid-length
    density: float  # cortical attenuation per unit path length


@dataclass(frozen=True)
class Limb:
    """Bones plus the soft tissue around them, which runs past the image edges."""

    bones: tuple[Bone, ...]
    center: tuple[float, float]
    angle: float
    half_width: float
    waves: np.ndarray  # (3, k): amplitude, frequency, phase of the outline's undulation
    fat_ratio: float  # muscle half-width / skin half-width
    density: float  # muscle attenuation per unit path length
    lumps: np.ndarray  # (4, 4) normals: slow density variation of the soft tissue
    trabeculae: np.ndarray  # (24, 24) normals: mottling of spongy bone


def draw_limb(rng: np.random.Generator) -> Limb:
    """Draws pose, scale and the bones of a forearm- or shank-like limb."""
    scale = rng.uniform(0.8, 1.2)
    # Limbs are laid along the detector's long axis: near vertical, either end up.
    angle = np.pi / 2 + rng.uniform(-0.5, 0.5) + np.pi * (rng.random() < 0.5)
    center = tuple(rng.uniform(-0.08, 0.08, size=2))
    main = _draw_bone(rng, scale, rng.uniform(0.06, 0.08) * scale)
    bones = (main,)
    if rng.random() < 0.5:
        partner = _draw_bone(rng, scale, main.radius * rng.uniform(0.65, 0.85))
        bones = (main, partner)
    bones, extent = _place_bones(rng, bones, center, angle)
    waves = np.stack([rng.uniform(0.0, 0.08, 3), rng.uniform(2.0, 8.0, 3), rng.uniform(0, 6.3, 3)])
    half_width = extent * rng.uniform(1.8, 3.0)
    return Limb(
        bones=bones,
        center=center,
        angle=angle,
        half_width=half_width,
        waves=waves,
        fat_ratio=rng.uniform(0.75, 0.92),
        density=rng.uniform(2.0, 3.0),
        lumps=rng.standard_normal((4, 4)),
        trabeculae=rng.standard_normal((24, 24)),
    )


def _draw_bone(rng: np.random.Generator, scale: float, radius: float) -> Bone:
    return Bone(
        center=(0.0, 0.0),
        angle=0.0,
        half_length=rng.uniform(0.42, 0.65) * scale,
        radius=radius,
        canal_ratio=rng.uniform(0.45, 0.65),
        flare=tuple(rng.uniform(0.35, 0.9, size=2)),
        flare_start=rng.uniform(0.4, 0.65),
        skew=tuple(rng.uniform(-0.6, 0.6, size=2)),
        bow=rng.uniform(-0.6, 0.6) * radius,
        density=rng.uniform(14.0, 20.0),
    )


def _place_bones(
    rng: np.random.Generator, bones: tuple[Bone, ...], center: tuple[float, float], angle: float
) -> tuple[tuple[Bone, ...], float]:
    """Puts the bones side by side across the limb axis; returns them and their half-extent."""
    gap = rng.uniform(0.005, 0.03)
    offsets = [0.0]
    if len(bones) == 2:
        offsets.append((bones[0].radius + bones[1].radius + gap) * rng.choice([-1.0, 1.0]))
    mid = np.mean(offsets)
    placed = []
    for bone, offset in zip(bones, offsets, strict=True):
        tilt = rng.uniform(-0.05, 0.05)
        along = rng.uniform(-0.04, 0.04)
        placed.append(
            replace(bone, center=to_image(center, angle, along, offset - mid), angle=angle + tilt)
        )
    extent = max(abs(o - mid) + b.radius for o, b in zip(offsets, bones, strict=True))
    return tuple(placed), extent


def to_image(center: tuple[float, float], angle: float, s: float, d: float) -> tuple[float, float]:
    """Frame coordinates (``s`` along the axis at ``angle``, ``d`` across) -> image ``(x, y)``."""
    x = center[0] + s * np.cos(angle) - d * np.sin(angle)
    y = center[1] + s * np.sin(angle) + d * np.cos(angle)
    return float(x), float(y)


def frame(center, angle, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(x, y)`` -> frame coordinates ``(s, d)``; the inverse of :func:`to_image`."""
    dx, dy = x - center[0], y - center[1]
    c, s = np.cos(angle), np.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


def bone_frame(bone: Bone, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in which the (bowed) bone is straight and centred on ``d = 0``."""
    s, d = frame(bone.center, bone.angle, x, y)
    return s, d - bow_offset(bone, s)


def bow_offset(bone: Bone, s):
    """How far the bowed shaft's centreline sits off the straight axis at ``s`` along it."""
    return bone.bow * (1.0 - np.clip(s / bone.half_length, -1.0, 1.0) ** 2)


def chord(radius: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Path length through a disc of ``radius`` at distance ``d`` from its centre."""
    return 2.0 * np.sqrt(np.maximum(radius**2 - d**2, 0.0))


def bone_attenuation(
    bone: Bone, s: np.ndarray, d: np.ndarray, spongy_texture: np.ndarray | float = 0.0
) -> np.ndarray:
    """Projected attenuation of a hollow, end-flared, round-tipped bone in its own frame.

    Args:
        bone: The bone.
        s: Along-axis coordinate of each pixel, from :func:`bone_frame`.
        d: Across-axis coordinate, same shape.
        spongy_texture: Zero-mean mottling of the spongy bone near the joints.
    """
    a = np.abs(s) / bone.half_length
    end = s >= 0
    epiphysis = _smoothstep((a - bone.flare_start) / (1.0 - bone.flare_start))
    widening = np.where(end, bone.flare[1], bone.flare[0]) * epiphysis
    outer = bone.radius * (1.0 + widening)
    # Round the tip: the radius follows a dome over the last stretch of the bone.
    cap = 0.8 * bone.radius * (1.0 + np.where(end, bone.flare[1], bone.flare[0]))
    tip = np.clip((np.abs(s) - bone.half_length + cap) / cap, 0.0, 1.0)
    outer = outer * np.sqrt(1.0 - tip**2)
    # Epiphyses sit off-centre, as on a real radius or tibia.
    d = d - np.where(end, bone.skew[1], bone.skew[0]) * widening * bone.radius
    # The cortex thins towards the joint, where the canal fills with spongy bone.
    cortex = bone.radius * (1.0 - bone.canal_ratio) * (1.0 - 0.7 * epiphysis)
    canal = chord(np.maximum(outer - cortex, 0.0), d)
    spongy = (0.1 + 0.5 * epiphysis) * (1.0 + np.clip(spongy_texture, -0.6, 0.6))
    return bone.density * (chord(outer, d) - canal + spongy * canal)


def tissue_attenuation(limb: Limb, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Muscle core inside a lower-attenuation fat layer, with an undulating outline."""
    s, d = frame(limb.center, limb.angle, x, y)
    amp, freq, phase = limb.waves
    # (k, H, W) -> (H, W): a few slow cosines along the limb.
    wobble = np.sum(amp[:, None, None] * np.cos(freq[:, None, None] * s + phase[:, None, None]), 0)
    skin = limb.half_width * (1.0 + wobble)
    muscle = chord(skin * limb.fat_ratio, d)
    fat = chord(skin, d) - muscle
    lumps = 1.0 + 0.12 * upsample(limb.lumps, x.shape[0])
    return limb.density * (muscle + 0.45 * fat) * lumps


def upsample(field: np.ndarray, size: int) -> np.ndarray:
    """Smoothly enlarges a small random field to ``size`` x ``size`` (bicubic)."""
    image = Image.fromarray(field.astype(np.float32))
    return np.asarray(image.resize((size, size), Image.BICUBIC), dtype=np.float64)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
