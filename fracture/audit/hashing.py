"""File and perceptual fingerprints of radiographs.

``perceptual_hash`` concatenates two 256-bit ``imagehash`` hashes into one 512-bit int:

* dHash 16x16 of the whole image: the gradient layout, including the collimator
  border and the L/R marker, which tell apart radiographs of the same body part;
* pHash 16x16 of the central 80 %: the low-frequency structure of the part that
  small crops and the black corners of small rotations leave untouched.

A single 64-bit pHash cannot do the job: distinct synthetic radiographs of one class come
as close as 4 bits, while a contrast change or a 1-degree rotation moves a copy by up to
12 (``scripts/measure_near_duplicates.py`` prints both). 64-bit dHash, aHash and wHash,
other sizes and other combinations were tried the same way and did worse. The 512-bit
fingerprint catches re-encoded, resized and contrast-changed copies, rotations up to about
2 degrees and crops up to about 2 % per side; it misses most 4-5 degree rotations and
4-5 % crops (see ``NEAR_DISTANCE``), which move a copy further than the closest distinct
radiographs.

Hamming distance over the 512 bits is the near-duplicate metric. Store the int as hex: it
does not fit a 64-bit column.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import imagehash
import numpy as np
from PIL import Image

HASH_SIZE = 16  # bits per side of each of the two hashes
FINGERPRINT_BITS = 2 * HASH_SIZE * HASH_SIZE
CENTRAL_MARGIN = 0.10  # share of the side cut off each border before the pHash
# Longer side images are shrunk to before hashing: the hashes see 17x16 and 64x64 px only,
# and rotating the variants of a full-size radiograph would cost more than decoding it.
HASH_SIDE = 256

# Measured with scripts/measure_near_duplicates.py (2-core CPU, 2026-11-27, seed 0: 400
# synthetic 256 px radiographs, 79,800 distinct pairs). Distinct pairs: min 101, 1st
# percentile 164, median 227 bits; 0 false positives at 80 (seed 1: min 102; both seeds
# pooled, 319,600 pairs: min 93). Copies missed at 80 (FN rate): resize 512->300, JPEG q70,
# brightness, gamma 0 %; contrast x1.3 0.2 %; rotation 1 deg 0.8 %, 2 deg 5.5 %, 3 deg 31 %,
# 4 deg 79 %, 5 deg 97 %; crop per side 2 % 1.2 %, 3 % 23 %, 4 % 56 %, 5 % 80 %; 5 % off
# one side 61 %. 80 stays well below the closest distinct pair because larger sets bring
# distinct pairs closer and every false edge can chain two clusters together.
NEAR_DISTANCE = 72
# (degrees counter-clockwise, share of the side cut off each border) of each variant.
VARIANTS = ((3.5, 0.0), (1.5, 0.0), (0.0, 0.035), (3.5, 0.03), (-3.5, 0.03))

_CHUNK = 1 << 20
_HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def content_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes.

    Args:
        path: File to read, in chunks so large DICOMs do not fill memory.

    Returns:
        The digest as 64 lowercase hex characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def perceptual_hash(image: Image.Image) -> int:
    """Perceptual fingerprint of a radiograph, robust to resizing, re-encoding and contrast.

    Args:
        image: 8-bit grayscale (``"L"``) image; RGB, palette and other 8-bit modes are
            converted to ``"L"``.

    Returns:
        A non-negative int below ``2 ** FINGERPRINT_BITS``: the whole-image dHash bits
        followed by the central pHash bits; compare with Hamming distance.

    Raises:
        ValueError: ``image`` has more than 8 bits per channel (window it to ``"L"``
            first: a plain conversion would clip it).
    """
    return _hash(_prepare(image))


def perceptual_hashes(image: Image.Image) -> list[int]:
    """The perceptual fingerprint of a radiograph and of its ``VARIANTS``.

    Args:
        image: As for :func:`perceptual_hash`.

    Returns:
        ``perceptual_hash(image)``, then one fingerprint per entry of ``VARIANTS``, in
        order: of the image rotated (black corners, same size), then cropped centrally.

    Raises:
        ValueError: As for :func:`perceptual_hash`.
    """
    small = _prepare(image)
    return [_hash(small), *(_hash(_variant(small, *variant)) for variant in VARIANTS)]


def fingerprint_words(hashes: Sequence[int], bits: int = FINGERPRINT_BITS) -> np.ndarray:
    """Packs fingerprints into a ``(len(hashes), ceil(bits / 64))`` ``uint64`` array.

    Args:
        hashes: Non-negative ints below ``2 ** bits``.
        bits: Width of the fingerprints.

    Returns:
        One row per fingerprint, most significant word first, for vectorised XOR/popcount.

    Raises:
        ValueError: A hash is negative or too wide.
    """
    words = -(-bits // 64)
    try:
        raw = b"".join(int(h).to_bytes(8 * words, "big") for h in hashes)
    except OverflowError:
        raise ValueError(f"fingerprints must be non-negative ints below 2**{bits}") from None
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, words)


def _prepare(image: Image.Image) -> Image.Image:
    """``image`` in ``"L"`` mode, shrunk to at most ``HASH_SIDE`` px on its longer side."""
    if image.mode in _HIGH_DEPTH_MODES:
        raise ValueError(f"perceptual hashes need an 8-bit image, got mode {image.mode!r}")
    gray = image if image.mode == "L" else image.convert("L")
    scale = HASH_SIDE / max(gray.size)
    if scale >= 1:
        return gray
    size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
    return gray.resize(size, Image.Resampling.BOX)  # BOX: cheap, and both hashes blur anyway


def _hash(gray: Image.Image) -> int:
    whole = imagehash.dhash(gray, hash_size=HASH_SIZE).hash
    central = imagehash.phash(_central(gray), hash_size=HASH_SIZE).hash
    return _bits_to_int(np.concatenate([whole.ravel(), central.ravel()]))


def _variant(image: Image.Image, degrees: float, share: float) -> Image.Image:
    if degrees:
        image = image.rotate(degrees, resample=Image.Resampling.BILINEAR, fillcolor=0)
    width, height = image.size
    dx, dy = round(share * width), round(share * height)
    return image.crop((dx, dy, width - dx, height - dy))


def _central(image: Image.Image) -> Image.Image:
    width, height = image.size
    dx, dy = round(CENTRAL_MARGIN * width), round(CENTRAL_MARGIN * height)
    return image.crop((dx, dy, width - dx, height - dy))


def _bits_to_int(bits: np.ndarray) -> int:
    # packbits is big-endian within bytes, so the first bit becomes the most significant.
    return int.from_bytes(np.packbits(bits.astype(np.uint8)).tobytes(), "big")
