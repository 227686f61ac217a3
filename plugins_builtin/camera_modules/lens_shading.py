"""Lens shading correction on a Bayer mosaic: a radial polynomial gain or a gain map.

A lens passes less light (and, with the sensor's microlenses and IR filter,
differently for each colour) away from the optical centre. The correction
multiplies each site by a gain ``g ≥ 1`` (radial) or ``g > 0`` (gain map) that
varies smoothly over the frame::

    y = g(site) · x                 (exact inverse, lens_shading_correction_inverse: y / g)

``mode = "radial"`` (default): an even polynomial of the distance to the centre,
with the coefficients of the site's colour c (R, G, B; both greens take G)::

    g = 1 + k1[c]·r² + k2[c]·r⁴
    r = sqrt((col − cx·(W − 1))² + (row − cy·(H − 1))²) / (sqrt((W − 1)² + (H − 1)²) / 2)

``row``, ``col`` are the site's indices in the ``H × W`` mosaic: ``r`` is 0 at the
centre and 1 at the corners when the centre is the frame's middle (cx = cy =
0.5), at most 2 (the far corner, with the centre in a corner). Goldman & Chen
model the vignetting (the attenuation) as ``V(r) = 1 + α1 r² + α2 r⁴ + α3 r⁶``;
the correction is ``1/V``, which this stage approximates by the polynomial above
(fit ``k1``, ``k2`` to ``1/V`` on [0, 1]), one polynomial per colour since
the falloff differs between colours. With ``k1, k2 ≥ 0`` the gain is at
least 1 and at most ``1 + 4·k1 + 16·k2`` (≤ 81), so corrected corners may exceed
1: values are not clipped.

``mode = "gain_map"``: the gains are given on a coarse grid, one grid per CFA
channel, as the option ``gain_map``, a nested array of shape ``(4, gh, gw)``
(channels R, Gr, Gb, B, whatever the pattern; ``gh, gw >= 1``; each value in
[0.125, 16])::

    gain_map = [
      [[1.8, 1.4, 1.8], [1.3, 1.0, 1.3], [1.8, 1.4, 1.8]],   # R,  gh = 3 rows, gw = 3 columns
      [[1.6, 1.3, 1.6], [1.2, 1.0, 1.2], [1.6, 1.3, 1.6]],   # Gr
      [[1.6, 1.3, 1.6], [1.2, 1.0, 1.2], [1.6, 1.3, 1.6]],   # Gb
      [[1.9, 1.5, 1.9], [1.3, 1.0, 1.3], [1.9, 1.5, 1.9]],   # B
    ]

Each channel's grid is interpolated bilinearly onto that channel's plane
(``H/2 × W/2``) with the grid's corner nodes on the plane's corner sites: plane row
``i`` reads grid row ``i·(gh − 1)/(H/2 − 1)`` (likewise for columns); a 1×1 grid is
a constant gain. This is the layout of Android's lens shading map (four Bayer
channels on a grid spanning the frame), like the DNG ``GainMap`` opcode's per-plane grid.

Parameters (radial mode; in gain-map mode they must keep their defaults):
    k1: per colour (R, G, B) in [0, 4], default 0 (no correction).
    k2: per colour (R, G, B) in [0, 4], default 0.
    cx, cy: the optical centre as fractions of the width and height, each in [0, 1],
        default 0.5.
    All constants or per image, not per pixel (a spatially varying gain is the gain map).
Options:
    mode: ``radial`` (default) or ``gain_map``.
    gain_map: ``(4, gh, gw)`` gains in [0.125, 16], default four 1×1 grids of 1 (no
        correction); only with ``mode = "gain_map"``.
    pattern: the Bayer pattern (which colour each site has).
Shapes: ``(..., H, W) -> (..., H, W)``, H and W even.

Sources: D. B. Goldman, J.-H. Chen, "Vignette and exposure calibration and
compensation", ICCV 2005 (the polynomial vignetting model); Android Open Source Project,
camera2 ``CaptureResult.STATISTICS_LENS_SHADING_CORRECTION_MAP`` (four Bayer
channels on a grid); Adobe, DNG Specification 1.6, chapter 7 (``GainMap`` opcode).
Infinite-ISP's lens shading correction module (10xEngineers, Infinite-ISP) is a
pass-through placeholder, so nothing is taken from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.arrays import as_param
from ispengine.core.cfa import CFA_CHANNELS, CFA_COLOUR, cfa_positions, merge_cfa, split_cfa
from ispengine.core.errors import ParamError
from ispengine.core.params import PER_CHANNEL, SCALAR, OptionSpec, ParamSpec
from ispengine.core.settings import ArraySetting
from ispengine.core.stage import InverseStage, Stage
from plugins_builtin.canonical_stages.cfa import PATTERN_OPTION

MODE_OPTION = OptionSpec(
    "mode",
    ("radial", "gain_map"),
    default="radial",
    description="radial polynomial gain (k1, k2, cx, cy) or a per-CFA-channel gain map",
)
GAIN_MAP_RANGE = (0.125, 16.0)
NO_GAIN_MAP = [[[1.0]], [[1.0]], [[1.0]], [[1.0]]]  # 1 × 1 grids of gain 1: no correction
GAIN_MAP_OPTION = ArraySetting(
    "gain_map",
    (4, None, None),
    default=NO_GAIN_MAP,
    description="gains on a (gh, gw) grid per CFA channel R, Gr, Gb, B, bilinearly "
    "interpolated (mode gain_map)",
    low=GAIN_MAP_RANGE[0],
    high=GAIN_MAP_RANGE[1],
)
RADIAL_DEFAULTS = {"k1": 0.0, "k2": 0.0, "cx": 0.5, "cy": 0.5}


def radius_squared(shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """``r²`` of every site of an ``H × W`` mosaic (see the module docstring), float64."""
    height, width = shape
    cx, cy = centre
    rows = np.arange(height)[:, None] - cy * (height - 1)
    columns = np.arange(width)[None, :] - cx * (width - 1)
    half_diagonal_squared = ((width - 1) ** 2 + (height - 1) ** 2) / 4
    return (rows**2 + columns**2) / half_diagonal_squared


def interpolation_nodes(size: int, nodes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling of ``nodes`` grid nodes at ``size`` outputs: output ``i`` reads
    node ``i·(nodes − 1)/(size − 1)``, i.e. ``(1 − f)·node[lower] + f·node[upper]``.

    >>> [a.tolist() for a in interpolation_nodes(3, 2)]
    [[0, 0, 0], [1, 1, 1], [0.0, 0.5, 1.0]]
    """
    if nodes == 1:
        zeros = np.zeros(size, dtype=int)
        return zeros, zeros, np.zeros(size)
    where = np.arange(size) * ((nodes - 1) / max(size - 1, 1))
    lower = np.minimum(np.floor(where).astype(int), nodes - 2)
    return lower, lower + 1, where - lower


def _interpolate(grid: np.ndarray, size: int, axis: int) -> np.ndarray:
    lower, upper, fraction = interpolation_nodes(size, grid.shape[axis])
    shape = [1] * grid.ndim
    shape[axis] = size
    fraction = fraction.reshape(shape)
    return (1 - fraction) * np.take(grid, lower, axis) + fraction * np.take(grid, upper, axis)


def gain_map_planes(gain_map: Any, plane_shape: tuple[int, int]) -> list[np.ndarray]:
    """The gain of every site of each CFA plane R, Gr, Gb, B, interpolated from the grid."""
    grids = np.asarray(gain_map, dtype=np.float64)
    columns = _interpolate(grids, plane_shape[1], 2)  # (4, gh, w): few rows, cheap
    return list(_interpolate(columns, plane_shape[0], 1))


class LensShadingCorrection(Stage):
    """Multiply each site by a radial or gain-map lens shading gain,
    ``(..., H, W) -> (..., H, W)``."""

    name = "lens_shading_correction"
    params = (
        ParamSpec(
            "k1",
            PER_CHANNEL,
            0.0,
            4.0,
            default=RADIAL_DEFAULTS["k1"],
            local=False,
            description="r² coefficient of the gain per colour (R, G, B)",
        ),
        ParamSpec(
            "k2",
            PER_CHANNEL,
            0.0,
            4.0,
            default=RADIAL_DEFAULTS["k2"],
            local=False,
            description="r⁴ coefficient of the gain per colour (R, G, B)",
        ),
        ParamSpec(
            "cx",
            SCALAR,
            0.0,
            1.0,
            default=RADIAL_DEFAULTS["cx"],
            local=False,
            description="optical centre, fraction of the width",
        ),
        ParamSpec(
            "cy",
            SCALAR,
            0.0,
            1.0,
            default=RADIAL_DEFAULTS["cy"],
            local=False,
            description="optical centre, fraction of the height",
        ),
    )
    options = (MODE_OPTION, GAIN_MAP_OPTION, PATTERN_OPTION)
    input_layout = "mosaic"
    output_layout = "mosaic"
    needs_even_size = True

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if self.config["mode"] == "gain_map":
            for name, default in RADIAL_DEFAULTS.items():
                if np.any(self.values[name] != default):
                    raise ParamError(
                        key=name, message="a radial parameter; mode gain_map takes none"
                    )
        elif self.config["gain_map"] != NO_GAIN_MAP:
            raise ParamError(key="gain_map", message="given, but mode is radial")
        # The gain map's planes for the latest plane shape (interpolated once per shape).
        self._map_planes: dict[tuple[int, int], list[np.ndarray]] = {}

    def gain(self, x: Any, p: Mapping[str, Any], xp: Any) -> list[Any]:
        """The gain of every site of each CFA plane R, Gr, Gb, B (arrays of ``xp``)."""
        height, width = x.shape[-2:]
        plane_shape = (height // 2, width // 2)
        if self.config["mode"] == "gain_map":
            if plane_shape not in self._map_planes:  # keep the latest shape's only
                self._map_planes = {
                    plane_shape: gain_map_planes(self.config["gain_map"], plane_shape)
                }
            return [as_param(plane, x, xp) for plane in self._map_planes[plane_shape]]
        gains = []
        positions = cfa_positions(self.config["pattern"])
        cx, cy = _constant_or_none(p["cx"]), _constant_or_none(p["cy"])
        if cx is not None and cy is not None:
            r2 = as_param(radius_squared((height, width), (cx, cy)), x, xp)
        else:  # per-image centres: (N, 1, 1) each
            rows = as_param(np.arange(height, dtype=np.float64)[:, None], x, xp)
            columns = as_param(np.arange(width, dtype=np.float64)[None, :], x, xp)
            half_diagonal_squared = ((width - 1) ** 2 + (height - 1) ** 2) / 4
            r2 = (
                (rows - p["cy"] * (height - 1)) ** 2 + (columns - p["cx"] * (width - 1)) ** 2
            ) / half_diagonal_squared
        for k, channel in enumerate(CFA_CHANNELS):
            a, b = positions[channel]
            plane_r2 = r2[..., a::2, b::2]
            colour = CFA_COLOUR[k]
            k1, k2 = p["k1"][..., colour], p["k2"][..., colour]
            gains.append(1 + plane_r2 * (k1 + k2 * plane_r2))
        return gains

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        planes = split_cfa(x, self.config["pattern"])
        corrected = [plane * g for plane, g in zip(planes, self.gain(x, p, xp), strict=True)]
        return merge_cfa(corrected, self.config["pattern"], xp)


def _constant_or_none(value: Any) -> float | None:
    """A constant (0-d) parameter as a float; ``None`` for per-image values."""
    if tuple(value.shape) != ():
        return None
    return float(value)


class LensShadingCorrectionInverse(InverseStage):
    """Divide each site by the same lens shading gain (exact)."""

    name = "lens_shading_correction_inverse"
    forward = LensShadingCorrection
    method = "exact"

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        pattern = self.config["pattern"]
        gains = self.forward_stage.gain(x, p, xp)
        planes = split_cfa(x, pattern)
        return merge_cfa([plane / g for plane, g in zip(planes, gains, strict=True)], pattern, xp)


STAGES = (LensShadingCorrection,)
INVERSES = (LensShadingCorrectionInverse,)
