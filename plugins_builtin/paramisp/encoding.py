"""ParamNet's non-linear equalisation of one optical parameter (a 15-d vector).

An optical parameter x (focal length, f-number, exposure time or ISO) spans
orders of magnitude, and its effect is roughly logarithmic (exposure times
double: 1/250 s, 1/125 s, ...). ParamNet therefore feeds it as fifteen
features on comparable scales::

    x  <- max(x, 1e-12)
    e(x) = [ x/MAX, (x/MAX)^(1/2), (x/MAX)^(1/4),
             MIN/x, (MIN/x)^(1/2), (MIN/x)^(1/4),
             (log2 x - a) / b, sin(log2 x), cos(log2 x),
             sin(x/c1), cos(x/c1), sin(x/c2), cos(x/c2), sin(x/c3), cos(x/c3) ]

The constants (MAX, MIN, a, b, c1..c3) of each parameter are in
:data:`EQUALISATION` (units: focal length mm, exposure time s). The paper
describes the scheme as normalising each parameter to about [0, 1]; the
constants are the ones of the authors' released code, so that its trained
weights apply. With ``equalise=False`` (the paper's ablation that diverged) a
parameter is the single value ``x/MAX`` (:func:`plain`).

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024, §3.1 ("Non-linear Equalization", Fig. 3);
constants from the authors' released code.
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

#: The optical parameters, in the order of ``CameraTensors.optical`` columns.
OPTICAL_NAMES: tuple[str, ...] = ("focal_length", "f_number", "exposure_time", "iso")

#: Lower clip of a parameter value before equalisation.
EPS = 1e-12

#: Length of one equalised vector.
ENCODING_SIZE = 15


@attrs.frozen
class Equalisation:
    """The constants of one parameter's equalisation.

    Attributes:
        name: parameter name (one of :data:`OPTICAL_NAMES`).
        unit: unit of the value (``mm``, ``s`` or empty for dimensionless).
        max: largest expected value (``x/MAX`` near [0, 1]).
        min: smallest expected value (``MIN/x`` near [0, 1]).
        a, b: offset and scale of ``(log2 x - a) / b``.
        periods: the divisors c1, c2, c3 of the sin/cos terms (same unit as x).
    """

    name: str
    unit: str
    max: float
    min: float
    a: float
    b: float
    periods: tuple[float, float, float]


#: Constants per optical parameter, by name.
EQUALISATION: dict[str, Equalisation] = {
    "focal_length": Equalisation("focal_length", "mm", 200.0, 4.2, 1.9, 5.8, (50.0, 30.0, 20.0)),
    "f_number": Equalisation("f_number", "", 32.0, 1.7, 0.7, 4.3, (11.0, 5.0, 2.0)),
    "exposure_time": Equalisation(
        "exposure_time", "s", 30.0, 1.0 / 28800.0, -15.0, 20.0, (11.0, 5.0, 2.0)
    ),
    "iso": Equalisation("iso", "", 8000.0, 64.0, 6.0, 7.0, (3100.0, 1300.0, 500.0)),
}


def _features(x: Any, c: Equalisation, xp: Any) -> list[Any]:
    """The fifteen terms of ``e(x)`` for an already clipped ``x`` (numpy or torch)."""
    up = x / c.max
    down = c.min / x
    log = xp.log2(x)
    terms = [up, up**0.5, up**0.25, down, down**0.5, down**0.25]
    terms += [(log - c.a) / c.b, xp.sin(log), xp.cos(log)]
    for period in c.periods:
        terms += [xp.sin(x / period), xp.cos(x / period)]
    return terms


def equalise(x: Any, name: str) -> Any:
    """The 15-d equalisation ``e(x)`` of one parameter, torch ``(N,) -> (N, 15)``.

    Args:
        x: parameter values, > 0 (values below 1e-12, including 0, are clipped to
            1e-12; NaN propagates: callers replace missing values first).
        name: one of :data:`OPTICAL_NAMES`.
    """
    import torch

    x = x.clamp(min=EPS)
    return torch.stack(_features(x, EQUALISATION[name], torch), dim=-1)


def equalise_numpy(x: Any, name: str) -> np.ndarray:
    """:func:`equalise` in float64 numpy, ``(...,) -> (..., 15)``."""
    x = np.maximum(np.asarray(x, dtype=np.float64), EPS)
    return np.stack(_features(x, EQUALISATION[name], np), axis=-1)


def plain(x: Any, name: str) -> Any:
    """The ablation without equalisation: ``x / MAX``, torch ``(N,) -> (N, 1)``."""
    return (x.clamp(min=EPS) / EQUALISATION[name].max)[..., None]
