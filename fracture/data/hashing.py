"""File and perceptual fingerprints of radiographs.

``perceptual_hash`` concatenates two 256-bit ``imagehash`` hashes into one 512-bit int,
computed on the image shrunk to at most ``HASH_SIDE`` px:

* dHash 16x16 of the whole image: the gradient layout, including the collimator
  border and the L/R marker, which tell apart radiographs of the same body part;
* pHash 16x16 of the central 80 %: the low-frequency structure of the part that
  small crops and the black corners of small rotations leave untouched.

A single 64-bit pHash cannot do the job: distinct synthetic radiographs of one class come
as close as 4 bits, while a contrast change or a 1-degree rotation moves a copy by up to
12. 64-bit dHash, aHash and wHash, other sizes and other combinations were tried the same
way and did worse. Alone, the 512-bit fingerprint catches re-encoded, resized and
contrast-changed copies, rotations up to about 2 degrees and crops up to about 2 % per
side, but misses most 4-5 degree rotations and 4-5 % crops, which move a copy further
than the closest distinct radiographs.

``perceptual_hashes`` therefore adds the fingerprints of ``VARIANTS`` of the image:
rotated and centrally cropped versions. ``find_duplicates`` compares the original
fingerprint of each file with every fingerprint of the others (never two variants), so a
copy rotated or cropped by about as much as a variant lands near it. A copy rotated the
other way is caught by its own variant rotating it back, so plain rotations need one
sign only. ``scripts/measure_near_duplicates.py`` measures the result (see
``NEAR_DISTANCE``).

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
# Images are shrunk (BOX) to at most this many px on the longer side before hashing: the
# hashes see 17x16 and 64x64 px only, and rotating full-size variants would cost more than
# decoding the file. 160 px did as well as 192 and 256 px in the measurements below (also on
# 512 px radiographs) at half the cost of 256 px; 128 px missed more crops.
HASH_SIDE = 160

# Measured with scripts/measure_near_duplicates.py (2-core CPU, 2026-11-27; seeds 0 and 1:
# 400 synthetic 256 px radiographs each, 79,800 distinct pairs), counting a pair near when
# the original of one is within the threshold of any fingerprint of the other. Distinct
# pairs: min 91 (seed 1: 88), 1st percentile 149, median 213 bits; 0 false positives at 72
# (both seeds pooled, 319,600 pairs: min 78; originals only: 94). Copies missed at 72,
# seed 0 / seed 1 (FN rate): resize, JPEG, brightness, gamma 0 %; contrast x1.3 0.5 / 1.0 %;
# rotation 1-4 deg 0 %, 5 deg 0.8 / 1.2 %; crop 2-5 % per side 0 %; rotate 3 deg then crop
# 5 % 1.0 / 4.8 %; crop 2 % + rotate 2 deg + resize + JPEG 0.5 / 2.5 %; crop 4 % + rotate
# 4 deg + resize + JPEG 0.2 / 1.0 %; 5 % off one side 66 / 67 % (no variant crops one side).
# The variants give distinct pairs more chances to match, so the threshold went down from
# 80 (originals only) to keep a margin: on 2,000 images (2 million distinct pairs) 1 pair
# falls within 72, as 1 did within 80 with originals only; every false edge can chain two
# clusters together.
NEAR_DISTANCE = 72
# (degrees counter-clockwise, share of the side cut off each border) of each variant: the
# rotations come first, then the crops. Chosen greedily on the measurements above, between
# the measured rotations and crops (a copy transformed exactly like a variant matches it
# exactly); each variant costs one more hash per image and one more column per file in the
# search.
VARIANTS = ((3.5, 0.0), (1.5, 0.0), (0.0, 0.025), (0.0, 0.045), (3.5, 0.03), (-3.5, 0.03))

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
        order: of the shrunk image rotated (black corners, same size), then cropped
        centrally, by that entry's amounts.

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
    if degrees:  # NEAREST would be 8x faster but missed more rotated copies
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
