"""The fast forms a stage offers besides its array-API ``apply``: declared, never probed.

A stage class sets ``capabilities = Capabilities(...)``; every field it leaves
``None`` is a form the stage does not offer, and the engine then runs
:meth:`~ispengine.core.stage.Stage.apply`. Each form computes exactly what
``apply`` computes (to rounding, or within the tolerance its docstring
states); ``tests/test_kernels.py`` checks every form of every registered stage
against ``apply`` on drawn parameters.

Kernel functions (``ScalarCurve``, ``ChannelKernel``, ``PixelKernel``) are
plain Python on ``float`` values and ``math`` calls, so that Numba can
compile them into fused passes (:mod:`ispengine.kernels.fused`,
:mod:`ispengine.kernels.fused_mosaic`) and into the Numba LUT backend; nothing is
compiled until a fused chain first runs. Arithmetic in fused passes is
float64. Functions that pack parameters (``pack``, ``cfa_affine``) take the
configured stage and return ``None`` when a parameter they need is not a
constant (per-image or per-pixel values), and the stage then runs unfused.

Example, a per-channel power curve offering its scalar function::

    def power_scalar(x, gamma):
        return x**gamma

    class Power(Stage):
        name = "power"
        monotone = True
        params = (ParamSpec("gamma", PER_CHANNEL, 0.5, 3.0, default=1.0),)
        capabilities = Capabilities(scalar=ScalarCurve(power_scalar))

        def apply(self, x, p, xp):
            return xp.clip(x, 0, None) ** p["gamma"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from attrs import asdict, frozen

if TYPE_CHECKING:
    from ispengine.core.stage import Stage

Packer = Callable[["Stage"], "np.ndarray | None"]


@frozen
class ScalarCurve:
    """A per-channel curve as a function of one value: ``forward(x, *params) -> y``.

    ``params`` are the stage's declared parameters in declaration order, each one
    float (the value of the channel being computed); any number of parameters.
    Every parameter must be scalar or per channel. For an ``odd_symmetric`` stage
    the functions are called for ``x >= 0`` only (``f(−x) = −f(x)`` is applied
    around them). Used per channel by fused chains and, for monotone stages, by the
    Numba LUT backend for in-kernel Newton steps.

    Attributes:
        forward: ``forward(x, *params) -> y``.
        derivative: ``derivative(x, *params) -> dy/dx`` (0 where undefined, e.g. a
            power's foot at ``x = 0``); needed for in-kernel Newton steps.
        forward_and_derivative: optional ``(x, *params) -> (y, dy/dx)`` sharing
            work between the two (used instead of both when given).
    """

    forward: Callable[..., float]
    derivative: Callable[..., float] | None = None
    forward_and_derivative: Callable[..., tuple[float, float]] | None = None


@frozen
class ChannelKernel:
    """A per-channel map of one value with packed per-channel parameters.

    Attributes:
        kernel: ``kernel(v, prm, o) -> v'``: one channel value ``v``, the channel's
            parameters at ``prm[o:o + k]`` (``prm`` a float64 1-D array).
        pack: ``pack(stage) -> (3, k) float64 array`` (one row per channel R, G, B)
            or ``None`` when the stage's parameters are not constants.
    """

    kernel: Callable[[float, Any, int], float]
    pack: Packer


@frozen
class PixelKernel:
    """A map of a whole RGB pixel with packed parameters (e.g. a 3×3 matrix).

    Exactly one of ``kernel`` and ``factory`` is given.

    Attributes:
        pack: ``pack(stage) -> 1-D float64 array`` or ``None`` when the stage's
            parameters are not constants.
        kernel: ``kernel(r, g, b, prm, o) -> (r, g, b)``, parameters at ``prm[o:]``.
        factory: ``factory() -> kernel``, called on first use, for kernels that
            need Numba-compiled helpers (e.g.
            :func:`ispengine.kernels.curve_table.table_pixel_kernel`).
            ``factory(jit)`` builds the same kernel with its helpers compiled by
            ``jit`` (a function -> its compiled form) instead of ``numba.njit``: the
            CUDA twins (:mod:`ispengine.kernels.cuda`) pass a device-function
            compiler. A factory that takes no ``jit`` runs on the CPU only.
    """

    pack: Packer
    kernel: Callable[..., tuple[float, float, float]] | None = None
    factory: Callable[[], Callable[..., tuple[float, float, float]]] | None = None

    def __attrs_post_init__(self) -> None:
        if (self.kernel is None) == (self.factory is None):
            raise TypeError("PixelKernel takes exactly one of kernel and factory")

    def resolve(self, jit: Callable | None = None) -> Callable[..., tuple[float, float, float]]:
        """The kernel function (built by ``factory`` when declared that way, with its
        helpers compiled by ``jit`` when given)."""
        if self.kernel is not None:
            return self.kernel
        return self.factory() if jit is None else self.factory(jit)


@frozen
class DemosaicKernel:
    """A linear Bayer demosaicer as per-site estimates, for fused camera front ends.

    Attributes:
        method: the method's name (keys compiled kernels), e.g. ``"malvar"``.
        estimates: ``estimates() -> fn`` (or ``estimates(jit)``, ``fn`` compiled by
            ``jit`` instead of ``numba.njit``, as for :attr:`PixelKernel.factory`),
            where the compiled
            ``fn(m, i, j) -> (green, row, column, cross)`` gives the missing-colour
            estimates at sample ``(i, j)`` of the mosaic ``m`` mirror-padded by 2
            samples (``numpy.pad(mode="reflect")``): green from the four neighbours'
            kernel, the colour of the row neighbours, of the column neighbours, and
            of the diagonal neighbours.
        site_table: ``site_table(stage) -> (2, 2) int64 array``: the CFA channel at
            each site of the stage's 2×2 cell (0 R, 1 Gr, 2 Gb, 3 B). R sites take
            ``(c, green, cross)``, Gr ``(row, c, column)``, Gb ``(column, c, row)``
            and B ``(cross, green, c)``.
    """

    method: str
    estimates: Callable[[], Any]
    site_table: Callable[[Stage], np.ndarray]


CfaAffine = Callable[["Stage"], "tuple[np.ndarray, np.ndarray] | None"]


@frozen
class Capabilities:
    """The fast forms a stage offers (each ``None`` when not offered).

    Attributes:
        scalar: per-value scalar function and derivative (:class:`ScalarCurve`),
            rgb -> rgb stages whose parameters are scalar or per channel.
        channel: per-channel table kernel (:class:`ChannelKernel`), rgb -> rgb.
        pixel: per-pixel kernel (:class:`PixelKernel`), rgb -> rgb.
        cfa_affine: ``cfa_affine(stage) -> (scale, offset)``, each a ``(2, 2)``
            float64 array over the stage's 2×2 Bayer cell, with
            ``apply(x)[y, j] = x[y, j] · scale[y % 2, j % 2] + offset[y % 2, j % 2]``
            (mosaic -> mosaic), or ``None`` unless the parameters are constants.
        cfa_clip: ``cfa_clip(stage) -> high``, a ``(2, 2)`` float64 array (or one
            number) over the 2×2 Bayer cell, with
            ``apply(x)[y, j] = min(x[y, j], high[y % 2, j % 2])`` (``+inf``: nothing
            clipped; mosaic -> mosaic), or ``None`` unless the parameters are
            constants and the stage's settings make it such a clip.
        demosaic: the demosaic estimates (:class:`DemosaicKernel`), mosaic -> rgb.
        derivative: ``derivative(stage, x, p, xp) -> dy/dx`` elementwise, array-API
            code with resolved parameters ``p`` like ``apply``; monotone stages
            offer it for Newton steps of numerical and LUT inverses (0 where
            undefined).

    A fused RGB chain uses the first of ``pixel``, ``channel``, ``scalar`` that a
    stage offers.
    """

    scalar: ScalarCurve | None = None
    channel: ChannelKernel | None = None
    pixel: PixelKernel | None = None
    cfa_affine: CfaAffine | None = None
    cfa_clip: Callable[[Stage], np.ndarray | float | None] | None = None
    demosaic: DemosaicKernel | None = None
    derivative: Callable[..., Any] | None = None

    def offered(self) -> tuple[str, ...]:
        """The names of the forms offered, e.g. ``("scalar", "derivative")``."""
        return tuple(name for name, form in asdict(self, recurse=False).items() if form is not None)


def spread_parameters(function: Callable[..., Any], count: int) -> Callable[..., Any]:
    """``g(x, prm, o) = function(x, prm[o], …, prm[o + count − 1])``, plain Python that
    Numba compiles, for calling a :class:`ScalarCurve` function from packed parameters
    (its parameter count is the stage's)."""
    arguments = ", ".join(f"prm[o + {k}]" for k in range(count))
    namespace: dict[str, Any] = {"function": function}
    exec(f"def spread(x, prm, o):\n    return function(x, {arguments})\n", namespace)  # noqa: S102
    return namespace["spread"]


def pad_parameters(function: Callable[..., Any], count: int, name: str = "padded") -> Any:
    """``name(x, p0, p1, p2) = function(x, p0, …, p{count − 1})``, plain Python for a
    compiler (Numba's CPU ``njit`` or its CUDA device compiler): LUT tables pad the
    parameter axis to three, so the LUT kernels call every curve with three parameters.
    ``function`` is the curve already compiled with the same compiler."""
    arguments = ", ".join(f"p{k}" for k in range(count))
    namespace: dict[str, Any] = {"function": function}
    exec(f"def {name}(x, p0, p1, p2):\n    return function(x, {arguments})\n", namespace)  # noqa: S102
    return namespace[name]
