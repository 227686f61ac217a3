"""CSTPP's per-pixel polynomial colour transform of packed RAW, and its stage.

A packed RAW pixel ``c = (c0, c1, c2, c3)`` (R, Gr, Gb, B, normalised to [0, 1])
is expanded into the 14 second-order terms of :data:`TERMS`, in this order::

    PT(c) = (c0², c1², c2², c3²,                               squares
             c0c1, c0c2, c0c3, c1c2, c1c3, c2c3,               cross products, i < j
             c0, c1, c2, c3)                                   linear terms

(no constant term), and mapped by a 14×4 matrix ``T``::

    paper form:     y = PT(c) · T              (default)
    residual form:  y = c + PT(c) · T          (the authors' released code)

``T`` may differ per pixel: CSTPP predicts one per 16×16 patch and interpolates
them to every pixel (:mod:`plugins_builtin.cstpp.networks`).

The released code lists c1·c3 twice and drops c0·c3 (R·B); the paper's
14-term set, implemented here, has every distinct product once.

Stage ``polynomial_transform`` (packed in, packed out):
    coefficients: ``T``, shape (14, 4), every entry in [-16, 16]; default the
        identity of the chosen form (linear block = I₄, the rest 0, in the paper
        form; all zeros in the residual form). Constant, per image or per pixel
        (``(..., H, W, 14, 4)``); the ``cstpp`` predictor clips its predictions
        into the range.
    residual (option): the residual form (default false).
Input: packed RAW ``(..., H/2, W/2, 4)`` in [0, 1]; the output is not clipped.

Source: "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (CSTPP), ACM
Multimedia 2024: the polynomial transform ``I^{AB} = PT(I^A) · T``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ispengine.core.settings import BooleanSetting, ParamSpec
from ispengine.core.stage import Stage

#: The 14 terms as channel index tuples: (i, i) squares, (i, j) cross products with
#: i < j, (i,) linear terms (module docstring).
TERMS: tuple[tuple[int, ...], ...] = (
    (0, 0),
    (1, 1),
    (2, 2),
    (3, 3),
    (0, 1),
    (0, 2),
    (0, 3),
    (1, 2),
    (1, 3),
    (2, 3),
    (0,),
    (1,),
    (2,),
    (3,),
)
CHANNELS = 4
#: Bounds of every coefficient of ``T``.
COEFFICIENT_RANGE = (-16.0, 16.0)


def polynomial_features(x: Any, xp: Any) -> Any:
    """``PT(x)``: the 14 terms of :data:`TERMS` of ``x`` ``(..., 4)``, as ``(..., 14)``.

    ``xp`` is the array namespace of ``x`` (numpy, or torch through
    ``array_api_compat``).

    Example:
        >>> import numpy as np
        >>> polynomial_features(np.array([1.0, 2.0, 3.0, 4.0]), np).tolist()
        [1.0, 4.0, 9.0, 16.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 1.0, 2.0, 3.0, 4.0]
    """
    terms = []
    for term in TERMS:
        value = x[..., term[0]]
        for index in term[1:]:
            value = value * x[..., index]
        terms.append(value)
    return xp.stack(terms, axis=-1)


def apply_polynomial(x: Any, coefficients: Any, residual: bool, xp: Any) -> Any:
    """``PT(x) · T`` (or ``x + PT(x) · T`` when ``residual``) for ``x`` ``(..., 4)``.

    ``coefficients`` is one ``(14, 4)`` matrix or ``(..., 14, 4)`` matrices that
    broadcast against the pixels of ``x`` (per image ``batch + (1, 1, 14, 4)``, per
    pixel ``(..., H, W, 14, 4)``).

    Example:
        >>> import numpy as np
        >>> x = np.array([0.2, 0.4, 0.5, 0.1])
        >>> apply_polynomial(x, identity_coefficients(False), False, np).tolist()
        [0.2, 0.4, 0.5, 0.1]
    """
    features = polynomial_features(x, xp)
    if coefficients.ndim == 2:
        mapped = xp.matmul(features, coefficients)
    else:
        mapped = xp.matmul(features[..., None, :], coefficients)[..., 0, :]
    return x + mapped if residual else mapped


def identity_coefficients(residual: bool) -> np.ndarray:
    """The ``T`` (float64, ``(14, 4)``) that maps every pixel to itself: zeros in the
    residual form; in the paper form I₄ on the linear terms and zeros elsewhere."""
    coefficients = np.zeros((len(TERMS), CHANNELS))
    if not residual:
        for row, term in enumerate(TERMS):
            if len(term) == 1:
                coefficients[row, term[0]] = 1.0
    return coefficients


class PolynomialTransform(Stage):
    """CSTPP's polynomial transform, ``(..., H/2, W/2, 4) -> (..., H/2, W/2, 4)``
    (module docstring)."""

    name = "polynomial_transform"
    params = (
        ParamSpec(
            "coefficients",
            (len(TERMS), CHANNELS),
            *COEFFICIENT_RANGE,
            default=identity_coefficients(False),
            description="T: PT(c)·T per pixel, rows in TERMS order (default: the identity)",
        ),
    )
    options = (
        BooleanSetting("residual", False, "residual form c + PT(c)·T (the released code's)"),
    )
    input_layout = "packed"
    output_layout = "packed"

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if self.config["residual"] and "coefficients" not in self.given:
            self.values["coefficients"] = identity_coefficients(True)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return apply_polynomial(x, p["coefficients"], self.config["residual"], xp)
