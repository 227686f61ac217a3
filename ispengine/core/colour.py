"""Standard colour formulas and matrices: the sRGB transfer functions, sRGB ↔ CIE XYZ.

sRGB transfer functions of IEC 61966-2-1:1999 (section 5.2), encoding (the
OETF, linear → sRGB) and its inverse, decoding (the EOTF)::

    OETF(x) = 12.92 · x                         x ≤ x_k
            = 1.055 · x^(1/2.4) − 0.055         x > x_k
    EOTF(v) = v / 12.92                         v ≤ v_k
            = ((v + 0.055) / 1.055)^2.4         v > v_k

The standard rounds the knees to x_k = 0.0031308 and v_k = 0.04045; with
those the two branches miss each other by 2.9e-8, so the OETF is not monotone
and the pair is not mutually inverse on a sliver around the knee. Here the
knee is where the branches meet, x_k = 0.003130668442500634 (v_k = 12.92 · x_k
= 0.04044823627710819), which makes both curves continuous, strictly
increasing and exact inverses of each other; they differ from the
rounded-knee formula by less than 3e-8 (about 1/500 of a 16-bit code value).
Negative inputs are extended oddly, ``f(x) = sign(x) · f(|x|)``, so round
trips also hold for out-of-gamut values. The powers use
:func:`ispengine.core.arrays.safe_power`, whose torch gradient at 0 is finite.

Matrices (D65 white, linear sRGB primaries of IEC 61966-2-1:1999 / ITU-R
BT.709), as tabulated by Lindbloom (http://www.brucelindbloom.com, "RGB/XYZ
Matrices"):

* ``SRGB_TO_XYZ``: linear sRGB → CIE XYZ, the tabulated matrix (camera →
  sRGB matrices are derived with it, as LibRaw does:
  :func:`ispengine.io.raw.image.camera_to_srgb_from_xyz`).
* ``XYZ_TO_LINEAR_SRGB``: CIE XYZ → linear sRGB, the tabulated matrix;
  ``LINEAR_SRGB_TO_XYZ`` is its exact numerical inverse (float64), so a round
  trip through the pair is exact to rounding. The two tabulated matrices are
  inverses of each other only to their 7 printed digits.

All matrices are read-only float64 arrays; they act on column vectors
(``y = M · x``), so on channel-last images as ``image @ M.T``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ispengine.core.arrays import safe_power

LINEAR_SLOPE = 12.92
OFFSET = 0.055
EXPONENT = 2.4
# The root of 12.92·x = 1.055·x^(1/2.4) − 0.055 next to the standard's 0.0031308.
LINEAR_KNEE = 0.003130668442500634
ENCODED_KNEE = LINEAR_SLOPE * LINEAR_KNEE


def srgb_encode(x: Any, xp: Any) -> Any:
    """The sRGB OETF (IEC 61966-2-1), linear → encoded, odd-extended to negatives.

    >>> round(float(srgb_encode(np.float64(0.18), np)), 6)
    0.461356
    """
    magnitude = xp.abs(x)
    power = (1 + OFFSET) * safe_power(magnitude, 1 / EXPONENT, xp) - OFFSET
    return xp.where(magnitude <= LINEAR_KNEE, LINEAR_SLOPE * x, xp.where(x < 0, -power, power))


def srgb_decode(v: Any, xp: Any) -> Any:
    """The sRGB EOTF (IEC 61966-2-1), encoded → linear, odd-extended to negatives.

    >>> round(float(srgb_decode(np.float64(0.5), np)), 6)
    0.214041
    """
    magnitude = xp.abs(v)
    power = safe_power((magnitude + OFFSET) / (1 + OFFSET), EXPONENT, xp)
    return xp.where(magnitude <= ENCODED_KNEE, v / LINEAR_SLOPE, xp.where(v < 0, -power, power))


SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
XYZ_TO_LINEAR_SRGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
LINEAR_SRGB_TO_XYZ = np.linalg.inv(XYZ_TO_LINEAR_SRGB)
SRGB_TO_XYZ.setflags(write=False)
XYZ_TO_LINEAR_SRGB.setflags(write=False)
LINEAR_SRGB_TO_XYZ.setflags(write=False)
