"""CanoNet: ParamISP's weightless canonical stages, run by the engine's pipeline.

Forward (normalised RAW mosaic -> linear sRGB), the shipped spec ``paramisp_canonet``::

    I_lin = M · clip(WB · demosaic_Malvar(I_raw), 0, 1)

Inverse (linear sRGB -> RAW mosaic), the same chain without the clip, inverted::

    I_raw = mosaic(WB⁻¹ · M⁻¹ · I_lin)

Both run the engine's canonical stages (``demosaic_malvar``, ``white_balance``,
``clip``, ``camera_to_srgb`` and their registered inverses) on torch batches,
differentiably, with per-image white-balance gains and matrices passed as per-call
parameters. The Bayer pattern is a stage option, so one batch has one pattern.
The clip has no inverse, so the inverse is built from the spec with its clip
left out.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024, §3.2 (CanoNet) and §3.3 (its
inverse); the clip to [0, 1] is that of the authors' released code; H. S. Malvar, L. He,
R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
color images", ICASSP 2004.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ispengine.core.errors import InputError
from ispengine.core.pipeline import Pipeline
from ispengine.core.spec import load_spec_file
from ispengine.specs import resolve_spec

#: The shipped spec of the forward CanoNet.
SPEC = "paramisp_canonet"

#: Placeholder metadata binding the spec's per-image values; every call overrides them.
_NEUTRAL = {"wb_gains": [1.0, 1.0, 1.0], "camera_to_srgb": np.eye(3).tolist()}


@functools.cache
def pipelines(pattern: str) -> tuple[Pipeline, Pipeline]:
    """The forward and inverse CanoNet pipelines for one Bayer ``pattern`` (e.g. ``rggb``)."""
    path = resolve_spec(SPEC)
    data = load_spec_file(path)
    metadata = {"cfa_pattern": pattern, **_NEUTRAL}
    forward = Pipeline.from_dict(data, source=str(path)).bind(metadata)
    unclipped = {**data, "stage": [s for s in data["stage"] if s.get("type") != "clip"]}
    inverse = Pipeline.from_dict(unclipped, source=str(path)).bind(metadata).inverse()
    return forward, inverse


def _params(wb: Any, ccm: Any, n: int) -> dict[str, dict[str, Any]]:
    if tuple(wb.shape) != (n, 3) or tuple(ccm.shape) != (n, 3, 3):
        raise InputError(
            f"CanoNet: expected wb ({n}, 3) and ccm ({n}, 3, 3), "
            f"got {tuple(wb.shape)} and {tuple(ccm.shape)}"
        )
    return {"white_balance": {"gains": wb}, "camera_to_srgb": {"matrix": ccm}}


def canonical_forward(mosaic: Any, pattern: str, wb: Any, ccm: Any) -> Any:
    """Normalised RAW mosaics ``(N, H, W)`` -> linear sRGB ``(N, 3, H, W)`` (torch).

    Args:
        mosaic: values in [0, 1] (black level subtracted, divided by white − black);
            H and W even.
        pattern: Bayer pattern of the batch (``rggb``, ``bggr``, ``grbg``, ``gbrg``).
        wb: ``(N, 3)`` white-balance gains (R, G, B).
        ccm: ``(N, 3, 3)`` camera RGB -> linear sRGB matrices (``y = M x``).
    """
    forward, _ = pipelines(pattern)
    if mosaic.ndim != 3:
        raise InputError(f"CanoNet: expected mosaics (N, H, W), got {tuple(mosaic.shape)}")
    out = forward(mosaic, _params(wb, ccm, mosaic.shape[0]), check=False, fuse=False)
    return out.permute(0, 3, 1, 2)


def canonical_inverse(linear: Any, pattern: str, wb: Any, ccm: Any) -> Any:
    """Linear sRGB ``(N, 3, H, W)`` -> RAW mosaics ``(N, H, W)`` (torch, no clip).

    Args: as :func:`canonical_forward`.
    """
    _, inverse = pipelines(pattern)
    if linear.ndim != 4 or linear.shape[1] != 3:
        raise InputError(f"CanoNet: expected images (N, 3, H, W), got {tuple(linear.shape)}")
    nhwc = linear.permute(0, 2, 3, 1)
    return inverse(nhwc, _params(wb, ccm, linear.shape[0]), check=False, fuse=False)
