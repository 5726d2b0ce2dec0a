"""Fracture kinds and how each one changes a bone's attenuation.

A fracture is one or more *cuts*: bands across the whole bone width where the bone
attenuation drops, with ragged edges. Displaced and angulated fractures also move
the distal part (``s`` beyond the first cut) rigidly. Lengths are in image-side
units, so a non-subtle gap (4-8 % of the side) stays at least 2.5 px wide after the
demo downsamples to 64 px; only the ``subtle`` share is thin and faint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fracture.synth.anatomy import Bone, bone_attenuation, chord

KINDS = ("transverse", "oblique", "comminuted", "hairline", "displaced", "angulated")
SUBTLE = "subtle"
# Gap widths are fractions of the image side: 0.05 is 3.2 px at 64 px.
_GAP = (0.05, 0.08)
_DEPTH = (0.9, 1.0)
_HAIRLINE_GAP, _HAIRLINE_DEPTH = (0.04, 0.05), (0.7, 0.8)
_SUBTLE_GAP, _SUBTLE_DEPTH = (0.012, 0.02), (0.3, 0.5)


@dataclass(frozen=True)
class Cut:
    """A fracture line crossing the bone axis at ``offset``, tilted from the perpendicular."""

    offset: float
    tilt: float
    width: float  # full-depth width of the gap
    depth: float  # share of the bone attenuation missing inside the gap
    jag: tuple[float, float, float]  # amplitude, frequency, phase of the ragged edges

    def distance(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Signed distance to the (ragged) line; positive on the distal side."""
        amp, freq, phase = self.jag
        straight = (s - self.offset) * np.cos(self.tilt) + d * np.sin(self.tilt)
        return straight + amp * np.sin(freq * d + phase)

    def transmission(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Share of bone attenuation kept: ``1 - depth`` in the gap, 1 beyond its soft edge."""
        edge = 0.3 * self.width
        inside = np.clip((self.width / 2 + edge - np.abs(self.distance(s, d))) / edge, 0.0, 1.0)
        return 1.0 - self.depth * inside

    @property
    def reach(self) -> float:
        """Largest distance from the line (jag included) at which the cut changes anything."""
        return 0.8 * self.width + self.jag[0]


@dataclass(frozen=True)
class Fracture:
    """Everything needed to draw one fracture into one bone of a limb."""

    kind: str
    bone: int  # index into ``Limb.bones``
    cuts: tuple[Cut, ...]
    pivot: tuple[float, float] = (0.0, 0.0)  # hinge of the distal part, (s, d)
    rotation: float = 0.0  # angulation of the distal part about the pivot
    shift: float = 0.0  # sideways displacement of the distal part
    fragment: tuple[float, float, float] | None = None  # loose piece: s, d, radius

    @property
    def moves(self) -> bool:
        """Whether the distal part leaves its place (so changes reach beyond the gap)."""
        return self.rotation != 0.0 or self.shift != 0.0


def draw_fracture(
    rng: np.random.Generator, bones: tuple[Bone, ...], subtle_fraction: float
) -> Fracture:
    """Draws a fracture for one of ``bones``, whether or not the image will show it.

    Drawing it for healthy images too keeps every later random draw identical, so a
    healthy and a fractured render of the same stream differ only at the fracture.
    """
    index = int(rng.integers(len(bones)))
    bone = bones[index]
    offset = rng.uniform(*_offset_range(bone))
    subtle = rng.random() < subtle_fraction
    kind = KINDS[int(rng.integers(len(KINDS)))]
    if subtle:
        cut = _cut(rng, offset, rng.uniform(-0.7, 0.7), rng.uniform(*_SUBTLE_GAP), _SUBTLE_DEPTH)
        return Fracture(SUBTLE, index, (cut,))
    return _BUILDERS[kind](rng, index, bone, offset)


def _offset_range(bone: Bone, box: float = 0.25) -> tuple[float, float]:
    """Middle 25-75 % of the bone's length, cut to where it lies within ``box`` of the centre.

    Away from the flared ends and the image border, random crops rarely remove it.
    """
    low, high = -0.5 * bone.half_length, 0.5 * bone.half_length
    for center, step in zip(bone.center, (np.cos(bone.angle), np.sin(bone.angle)), strict=True):
        if abs(step) > 1e-9:
            a, b = sorted(((-box - center) / step, (box - center) / step))
            low, high = max(low, a), min(high, b)
    return low, high


def _cut(rng, offset, tilt, width, depth_range, jag=0.15):
    jag = (jag * width * rng.random(), rng.uniform(60.0, 160.0), rng.uniform(0.0, 2 * np.pi))
    return Cut(offset, tilt, width, rng.uniform(*depth_range), jag)


def _gap(rng):
    return rng.uniform(*_GAP)


def _transverse(rng, index, bone, offset):
    cut = _cut(rng, offset, rng.uniform(-0.2, 0.2), _gap(rng), _DEPTH, jag=0.3)
    return Fracture("transverse", index, (cut,))


def _oblique(rng, index, bone, offset):
    tilt = rng.uniform(0.5, 0.85) * rng.choice([-1.0, 1.0])
    return Fracture("oblique", index, (_cut(rng, offset, tilt, _gap(rng), _DEPTH),))


def _comminuted(rng, index, bone, offset):
    """A butterfly: lines splaying from one point, plus a loose fragment beside the cortex."""
    sign = rng.choice([-1.0, 1.0])
    cuts = [_cut(rng, offset, rng.uniform(-0.25, 0.25), _gap(rng), _DEPTH)]
    for k in range(int(rng.integers(1, 3))):
        tilt = sign * (-1) ** k * rng.uniform(0.45, 0.8)
        shift = rng.uniform(0.6, 1.4) * bone.radius * (-1) ** k
        cuts.append(_cut(rng, offset + shift, tilt, _gap(rng), _DEPTH))
    radius = bone.radius * rng.uniform(0.35, 0.55)
    side = rng.choice([-1.0, 1.0])
    fragment = (
        offset + rng.uniform(-0.5, 0.5) * bone.radius,
        side * (bone.radius + radius),
        radius,
    )
    return Fracture("comminuted", index, tuple(cuts), fragment=fragment)


def _hairline(rng, index, bone, offset):
    cut = _cut(rng, offset, rng.uniform(-0.6, 0.6), rng.uniform(*_HAIRLINE_GAP), _HAIRLINE_DEPTH)
    return Fracture("hairline", index, (cut,))


def _displaced(rng, index, bone, offset):
    cut = _cut(rng, offset, rng.uniform(-0.5, 0.5), _gap(rng), _DEPTH)
    shift = rng.uniform(0.6, 1.2) * bone.radius * rng.choice([-1.0, 1.0])
    return Fracture("displaced", index, (cut,), pivot=(offset, 0.0), shift=shift)


def _angulated(rng, index, bone, offset):
    """The distal part hinges on one cortex, opening a wedge on the other side."""
    cut = _cut(rng, offset, rng.uniform(-0.3, 0.3), _gap(rng), _DEPTH)
    side = rng.choice([-1.0, 1.0])
    rotation = side * rng.uniform(0.2, 0.4)
    return Fracture(
        "angulated", index, (cut,), pivot=(offset, -side * bone.radius), rotation=rotation
    )


_BUILDERS = {
    "transverse": _transverse,
    "oblique": _oblique,
    "comminuted": _comminuted,
    "hairline": _hairline,
    "displaced": _displaced,
    "angulated": _angulated,
}


def fractured_attenuation(
    bone: Bone, fracture: Fracture, s: np.ndarray, d: np.ndarray, texture: np.ndarray
) -> np.ndarray:
    """Bone attenuation with the fracture's gaps, moved distal part and fragment."""
    if not fracture.moves:
        total = bone_attenuation(bone, s, d, texture) * _transmission(fracture, s, d)
    else:
        total = _part(bone, fracture, s, d, texture, distal=False)
        moved = _unmove(fracture, s, d)
        total = total + _part(bone, fracture, *moved, texture, distal=True)
    if fracture.fragment is not None:
        fs, fd, radius = fracture.fragment
        # An elongated chip of cortical bone: a squashed sphere, 1.6x longer than wide.
        total = total + 1.2 * bone.density * chord(radius, np.hypot((s - fs) / 1.6, d - fd))
    return total


def _part(bone, fracture, s, d, texture, distal: bool):
    """Proximal or distal part of the bone, each with its own half of the gap."""
    side = fracture.cuts[0].distance(s, d) >= 0
    keep = side if distal else ~side
    return bone_attenuation(bone, s, d, texture) * _transmission(fracture, s, d) * keep


def _transmission(fracture, s, d):
    out = np.ones_like(s)
    for cut in fracture.cuts:
        out = out * cut.transmission(s, d)
    return out


def _unmove(fracture: Fracture, s: np.ndarray, d: np.ndarray):
    """Maps a point of the moved distal part back to where it was before the injury."""
    ps, pd = fracture.pivot
    s, d = s - ps, d - fracture.shift - pd
    c, n = np.cos(-fracture.rotation), np.sin(-fracture.rotation)
    return ps + c * s - n * d, pd + n * s + c * d
