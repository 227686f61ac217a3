"""The ``lut`` inverse stage of any LUT-invertible forward stage.

Settings (a pipeline's ``[inverse.<stage>]`` table, all optional):

* ``backend``: ``auto`` (CuPy for CuPy arrays, else Numba when installed, else
  numpy), ``numpy``, ``numba`` or ``cupy``;
* ``path``: ``auto`` (global when every parameter is constant per image and
  channel, local when any is a per-pixel map), ``global`` or ``local``;
* ``param_points``: points per parameter axis of the 4-D table, each in
  [2, 512] (default: the paper's 60, 30, 30);
* ``output_points``: output nodes of the 4-D table, [16, 65536] (default 512);
* ``global_points``: nodes of the per-image 1-D tables, [16, 1048576] (default 8192);
* ``newton_steps``: Newton steps after a local lookup, [0, 4] (default 2, which
  brings the paper grid to max |f(f⁻¹(y)) − y| below 1e-9 for f_GM);
* ``global_newton_steps``: Newton steps after a global lookup, [0, 4] (default 0).

Targets outside the curve's output range are clipped to its ends (the
inverse returns the domain ends there). torch tensors fall back to the
numerical inverse (the LUT is not differentiable).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import array_api_compat
import numpy as np

from ispengine.core.arrays import move_like, namespace, to_host
from ispengine.core.capabilities import Capabilities, ChannelKernel
from ispengine.core.errors import InputError, ParamError
from ispengine.core.numerical_inverse import invert_stage
from ispengine.core.params import OptionSpec, ParamSpec
from ispengine.core.registry import Registry
from ispengine.core.stage import InverseStage, Stage
from ispengine.kernels.cuda.runtime import is_cuda_array, upload, upload_for
from ispengine.kernels.fused import constant_channel_params
from ispengine.lut.backend import Curve, LutBackend
from ispengine.lut.cache import load_or_build, table_path
from ispengine.lut.table import (
    LutGrid,
    LutTable,
    TableMemo,
    check_lut_invertible,
    lut_domain,
    solve_nodes,
)

BACKENDS = ("auto", "numpy", "numba", "cupy")
_loaded_tables: dict[str, LutTable] = {}
_global_tables = TableMemo()


def global_tables(
    stage: type[Stage], points: int, params: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D tables solved at ``params`` (``(..., k)``), memoised."""
    return _global_tables.get(
        stage,
        points,
        params,
        lambda p: solve_nodes(stage, [p[..., k] for k in range(p.shape[-1])], points),
    )


def lut_channel(v: float, prm: Any, o: int) -> float:
    """Global-table lookup of one value (fused kernels); row layout of
    :meth:`LutInverse.channel_params`: odd flag, y_lo, (n − 1)²/(y_hi − y_lo),
    n − 1, n − 2, then the n nodes."""
    odd = prm[o] > 0.5
    a = abs(v) if odd else v
    last = prm[o + 3]
    t = math.sqrt(min(max((a - prm[o + 1]) * prm[o + 2], 0.0), last * last))
    i = int(min(t, prm[o + 4]))
    left = prm[o + 5 + i]
    x = left + (t - i) * (prm[o + 6 + i] - left)
    return math.copysign(x, v) if odd else x


def _integer_setting(settings: Mapping[str, Any], name: str) -> Any:
    value = np.asarray(settings[name])
    if not np.all(value == np.round(value)):
        raise ParamError(key=name, message=f"must be an integer, got {value.tolist()}")
    return value.astype(int)


# The order ``auto`` tries backends in: the device one first, then the fastest CPU one.
AUTO_ORDER = ("cupy", "numba", "numpy")


def select_backend(name: str, y: Any, registry: Registry | None = None) -> LutBackend:
    """The backend instance called ``name`` (or chosen for ``y`` when ``auto``) among the
    LUT backends of ``registry`` (default: the process-wide plugin registry).

    A backend serves ``y`` when it is :meth:`~LutBackend.available` here and
    :meth:`~LutBackend.accepts` ``y``'s array type. ``auto`` takes the first such one in
    :data:`AUTO_ORDER` (skipping the others); a backend named explicitly that cannot serve
    ``y`` is a one-line :class:`InputError`, and so is ``auto`` when none can."""
    chosen = choose_backend(name, y, registry)
    if chosen is None:
        raise InputError(f"no LUT backend accepts {type(y).__name__} arrays")
    return chosen


def choose_backend(name: str, y: Any, registry: Registry | None = None) -> LutBackend | None:
    """:func:`select_backend`, with ``None`` instead of an error when ``auto`` finds no
    backend for ``y``."""
    if registry is None:
        from ispengine.core.plugins import get_registry

        registry = get_registry()
    known = registry.names("lut_backend")
    if name == "auto":
        for candidate in AUTO_ORDER:
            if candidate in known:
                cls = registry.get("lut_backend", candidate).cls
                if cls.accepts(y) and cls.available():  # accepts first: it is cheap
                    return cls()
        return None
    cls = registry.get("lut_backend", name).cls
    if not cls.available():
        raise InputError(f"LUT backend '{name}' is not available here")
    if not cls.accepts(y):
        raise InputError(f"LUT backend '{name}' cannot take {type(y).__name__} arrays")
    return cls()


class LutInverse(InverseStage):
    """Inverse of a monotone per-channel stage by lookup tables (method ``lut``).

    The backend comes from the registry of the pipeline that runs the stage
    (:meth:`with_registry`), or the process-wide one for a stage used alone.
    """

    method = "lut"
    registry: Registry | None = None

    def with_registry(self, registry: Registry) -> LutInverse:
        """A copy that chooses its LUT backend among ``registry``'s."""
        bound = copy.copy(self)
        bound.registry = registry
        return bound

    def channel_params(self) -> np.ndarray | None:
        """Packed global tables for fused chains (None unless constant and global)."""
        constants = constant_channel_params(self)
        if constants is None or self.inverse_config["path"] == "local":
            return None
        if int(_integer_setting(self.inverse_config, "global_newton_steps")):
            return None
        nodes, y_lo, y_hi = global_tables(self.forward, self.grid().global_points, constants)
        span = y_hi - y_lo
        scale = np.where(span > 0, 1.0 / np.where(span > 0, span, 1.0), 1.0)
        last = nodes.shape[-1] - 1
        head = np.stack(
            [
                np.full(3, float(self.forward.odd_symmetric)),
                y_lo,
                scale * last * last,
                np.full(3, last),
                np.full(3, last - 1),
            ],
            axis=-1,
        )
        return np.concatenate([head, nodes], axis=-1)

    capabilities = Capabilities(channel=ChannelKernel(lut_channel, channel_params))

    def grid(self) -> LutGrid:
        settings = self.inverse_config
        return LutGrid(
            _integer_setting(settings, "param_points"),
            int(_integer_setting(settings, "output_points")),
            int(_integer_setting(settings, "global_points")),
        )

    def table(self) -> LutTable:
        """The 4-D table of this inverse's grid (cached on disk and in memory)."""
        grid = self.grid()
        key = str(table_path(self.forward, grid))
        if key not in _loaded_tables:
            _loaded_tables[key] = load_or_build(self.forward, grid)
        return _loaded_tables[key]

    def resolve(self, x: Any, xp: Any, overrides: Mapping[str, Any] | None = None) -> dict:
        """:meth:`Stage.resolve`, marking parameters that are this stage's constants, so
        that the global lookup of a device image reads them from the host copy instead
        of back from the device (which would wait for the GPU on every call)."""
        resolved = super().resolve(x, xp, overrides)
        return resolved if overrides else _Constants(resolved)

    def _host_constants(self, p: Mapping[str, Any], batch: int, channels: int) -> Any:
        """The ``(batch, channels, k)`` parameters from the numpy constants when ``p``
        holds them (see :meth:`resolve`), else None."""
        values = [self.values[s.name] for s in self.params]
        plain = all(
            isinstance(v, np.ndarray) and v.ndim <= len(s.shape)
            for v, s in zip(values, self.params, strict=True)
        )
        if not isinstance(p, _Constants) or not plain:  # per-call, per-image or device values
            return None
        columns = [
            np.broadcast_to(v if s.shape else v[..., None], (batch, channels))
            for v, s in zip(values, self.params, strict=True)
        ]
        return np.stack(columns, axis=-1).astype(np.float64)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        if array_api_compat.is_torch_array(x):
            return invert_stage(self.forward_stage, x, p, xp)
        settings = self.inverse_config
        backend = choose_backend(settings["backend"], x, self.registry)
        if backend is None and not isinstance(x, np.ndarray):
            # No backend for this device's arrays (CuPy has its own): look up on the host.
            host = to_host(x)
            values = {k: to_host(v) for k, v in p.items()}
            return move_like(self.apply(host, values, namespace(host)), x)
        if backend is None:
            raise InputError(f"no LUT backend accepts {type(x).__name__} arrays")
        device = array_api_compat.device(x)
        channels = x.shape[-1]
        path = settings["path"]
        spatially_constant = all(_spatially_constant(p[s.name], s) for s in self.params)
        if path == "auto":
            path = "global" if spatially_constant else "local"
        if path == "global" and not spatially_constant:
            raise ParamError(
                key="path", message="'global' needs parameters constant per image and channel"
            )
        batch = math.prod(x.shape[:-3])
        pixels = x.shape[-3] * x.shape[-2]
        if path == "global":
            per_image = [
                xp.reshape(
                    xp.broadcast_to(
                        p[s.name] if s.shape else p[s.name][..., None],
                        tuple(x.shape[:-3]) + (1, 1, channels),
                    ),
                    (batch, channels),
                )
                for s in self.params
            ]
            host = self._host_constants(p, batch, channels)
            if host is None:  # per-call values: read back (small: one set per image)
                host = np.stack([_to_numpy(v) for v in per_image], axis=-1)
            nodes, y_lo, y_hi = global_tables(self.forward, self.grid().global_points, host)
            curve = Curve(self.forward, int(_integer_setting(settings, "global_newton_steps")))
            out = backend.global_lookup(
                xp.reshape(x, (batch, pixels, channels)),
                _table_on(nodes, x, xp, device),
                _table_on(y_lo, x, xp, device),
                _table_on(y_hi, x, xp, device),
                _table_on(_pad_params(host), x, xp, device, memoised=False),
                curve,
            )
        else:
            curve = Curve(self.forward, int(_integer_setting(settings, "newton_steps")))
            stacked = xp.stack(
                [
                    xp.broadcast_to(p[s.name] if s.shape else p[s.name][..., None], x.shape)
                    for s in self.params
                ],
                axis=-1,
            )
            params = xp.reshape(stacked, (batch * pixels, channels, len(self.params)))
            out = backend.local_lookup(
                xp.reshape(x, (batch * pixels, channels)),
                _pad_params(params, xp),
                self.table(),
                curve,
            )
        return xp.reshape(out, x.shape)


class _Constants(dict):
    """Resolved parameters that are the stage's own constants (no per-call values)."""


def _table_on(values: np.ndarray, x: Any, xp: Any, device: Any, *, memoised: bool = True) -> Any:
    """A host table on ``x``'s device. GPU arrays get it from the upload cache, by
    identity for ``memoised`` tables (the same objects image after image), else by
    their bytes; so a pipeline applying the same constants uploads them once."""
    if is_cuda_array(x):
        return upload_for((values,), values, x) if memoised else upload(values, x)
    return xp.asarray(values, device=device)


def _spatially_constant(value: Any, spec: ParamSpec) -> bool:
    lead = tuple(value.shape[: value.ndim - len(spec.shape)])
    return len(lead) < 2 or lead[-2:] == (1, 1)


def _to_numpy(array: Any) -> np.ndarray:
    return np.asarray(to_host(array), dtype=np.float64)


def _pad_params(params: Any, xp: Any = np) -> Any:
    """Pad the parameter axis to three entries (tables always have three axes)."""
    missing = 3 - params.shape[-1]
    if missing == 0:
        return params
    zeros = xp.zeros(
        params.shape[:-1] + (missing,), dtype=params.dtype, device=array_api_compat.device(params)
    )
    return xp.concat([params, zeros], axis=-1)


def lut_inverse_of(forward: type[Stage]) -> type[LutInverse]:
    """A :class:`LutInverse` class for a LUT-invertible forward stage class."""
    check_lut_invertible(forward)
    count = len(forward.params)
    default_points = (60, 30, 30)[:count]
    settings = (
        OptionSpec("backend", BACKENDS, default="auto", description="LUT backend"),
        OptionSpec(
            "path",
            ("auto", "global", "local"),
            default="auto",
            description="global (per-image) or local (per-pixel) lookup",
        ),
        ParamSpec(
            "param_points",
            (count,),
            2,
            512,
            default=default_points,
            description="4-D table points per parameter axis",
        ),
        ParamSpec(
            "output_points", (), 16, 65536, default=512, description="4-D table output nodes"
        ),
        ParamSpec(
            "global_points",
            (),
            16,
            1 << 20,
            default=8192,
            description="nodes of the per-image 1-D tables",
        ),
        ParamSpec("newton_steps", (), 0, 4, default=2, description="Newton steps, local path"),
        ParamSpec(
            "global_newton_steps", (), 0, 4, default=0, description="Newton steps, global path"
        ),
    )
    low, _ = lut_domain(forward)
    return type(
        f"{forward.__name__}LutInverse",
        (LutInverse,),
        {
            "forward": forward,
            "name": f"{forward.name}_lut_inverse",
            "inverse_settings": settings,
            "__doc__": f"LUT inverse of '{forward.name}' (tables over [{low:g}, "
            f"{forward.input_range[1]:g}]).",
            "__module__": forward.__module__,
        },
    )
