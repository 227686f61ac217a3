"""Reference numerical inverse of monotone per-pixel curves.

Safeguarded Newton iteration inside a shrinking bracket: each step is a
Newton step when it stays strictly inside the current bracket and the
derivative is positive, and a bisection step otherwise. Every element keeps a
valid bracket ``f(lo) <= y <= f(hi)``, so the iteration converges for any
non-decreasing ``f``; with the derivative it converges quadratically and ends
at float64 precision.

This is the accuracy reference the LUT inverses are checked against. Targets
outside the curve's output range ``[f(lo), f(hi)]`` are clipped to the range
ends, so the result is then ``lo`` or ``hi``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ispengine.core.params import ParamSpec
from ispengine.core.stage import InverseStage, Stage

Curve = Callable[[Any], Any]


def _split(lo: Any, hi: Any, xp: Any) -> Any:
    """The bisection point of ``[lo, hi]``, scale-aware for non-negative brackets.

    Brackets spanning orders of magnitude above 0 are split geometrically (and
    ``[0, hi]`` at ``hi/16``), so solutions like 1e-17 take a few dozen
    halvings of the exponent rather than 57 halvings of the interval.
    """
    middle = (lo + hi) / 2
    wide = (lo >= 0) & (hi > 16 * lo)
    geometric = xp.where(lo > 0, xp.sqrt(xp.abs(lo * hi)), hi / 16)
    return xp.where(wide, geometric, middle)


def invert_monotone(
    f: Curve,
    y: Any,
    lo: float,
    hi: float,
    *,
    xp: Any = np,
    dfdx: Curve | None = None,
    max_iter: int = 200,
    x0: Any = None,
) -> Any:
    """Solve ``f(x) = y`` elementwise for ``x`` in ``[lo, hi]``.

    Args:
        f: non-decreasing elementwise function of an array the shape of ``y``
            (its parameters already broadcast against ``y``).
        y: target values, float64 recommended (the result has ``y``'s dtype).
        lo, hi: the bracket of the domain (numbers, or arrays broadcasting to ``y``).
        dfdx: derivative of ``f``; without it the iteration bisects (about 60
            evaluations of ``f`` for float64).
        max_iter: iteration cap; reaching it leaves the best bracketed value.
        x0: optional starting point (clipped into the bracket).
    """
    lo_arr = xp.full_like(y, lo) if isinstance(lo, (int, float)) else lo + xp.zeros_like(y)
    hi_arr = xp.full_like(y, hi) if isinstance(hi, (int, float)) else hi + xp.zeros_like(y)
    lo_end, hi_end = lo_arr, hi_arr
    f_lo, f_hi = f(lo_arr), f(hi_arr)
    below_range, above_range = y <= f_lo, y >= f_hi
    y = xp.minimum(xp.maximum(y, f_lo), f_hi)
    x = (lo_arr + hi_arr) / 2 if x0 is None else xp.minimum(xp.maximum(x0, lo_arr), hi_arr)
    eps = float(np.finfo(np.float64).eps) if y.dtype == xp.float64 else 1.2e-7
    for _ in range(max_iter):
        residual = f(x) - y
        below = residual < 0
        lo_arr = xp.where(below, x, lo_arr)
        hi_arr = xp.where(below, hi_arr, x)
        if dfdx is not None:
            slope = dfdx(x)
            safe_slope = xp.where(slope > 0, slope, xp.ones_like(slope))
            newton = x - residual / safe_slope
            inside = (slope > 0) & (newton > lo_arr) & (newton < hi_arr)
            step = xp.where(inside, newton, _split(lo_arr, hi_arr, xp))
        else:
            step = _split(lo_arr, hi_arr, xp)
        solved = xp.abs(residual) <= 2 * eps * xp.abs(y)
        step = xp.where(solved, x, step)
        moved = step != x
        x = step
        width = hi_arr - lo_arr
        converged = ~moved | (width <= 4 * eps * xp.abs(x))
        if bool(xp.all(converged)):
            break
    return xp.where(below_range, lo_end, xp.where(above_range, hi_end, x))


class NumericalInverse(InverseStage):
    """Inverse of a monotone per-pixel stage by :func:`invert_monotone`.

    The forward stage must be non-decreasing in each pixel value on its
    ``monotone_domain`` (``monotone = True``) and may declare the ``derivative``
    capability for Newton steps. Computation runs in float64 whatever the input dtype.
    Targets outside the curve's output range map to the ends of that domain.
    """

    method = "numerical"
    inverse_settings = (
        ParamSpec(
            "max_iter",
            (),
            1,
            10_000,
            default=200,
            description="iteration cap of the safeguarded Newton solve",
        ),
    )

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        return invert_stage(self.forward_stage, x, p, xp, int(self.inverse_config["max_iter"]))


def invert_stage(forward: Stage, x: Any, p: Mapping[str, Any], xp: Any, max_iter: int = 200) -> Any:
    """Invert a configured monotone stage at ``x`` (resolved parameters ``p``) in float64,
    on its :meth:`~ispengine.core.stage.Stage.monotone_domain`; the result has ``x``'s dtype."""
    y = xp.astype(x, xp.float64)
    p64 = {k: xp.astype(v, xp.float64) for k, v in p.items()}
    derivative = forward.capabilities.derivative
    lo, hi = forward.monotone_domain(p64, xp)
    solution = invert_monotone(
        lambda t: forward.apply(t, p64, xp),
        y,
        lo,
        hi,
        xp=xp,
        dfdx=None if derivative is None else (lambda t: derivative(forward, t, p64, xp)),
        max_iter=max_iter,
    )
    return xp.astype(solution, x.dtype)


def numerical_inverse_of(forward: type[Stage]) -> type[NumericalInverse]:
    """A :class:`NumericalInverse` class for a monotone forward stage class."""
    if not forward.monotone:
        raise TypeError(f"stage '{forward.name}' does not declare monotone = True")
    return type(
        f"{forward.__name__}NumericalInverse",
        (NumericalInverse,),
        {
            "forward": forward,
            "name": f"{forward.name}_numerical_inverse",
            "__doc__": f"Numerical (safeguarded Newton) inverse of '{forward.name}'.",
            "__module__": forward.__module__,
        },
    )
