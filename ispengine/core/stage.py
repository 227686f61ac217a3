"""The stage base classes every ISP operation derives from.

A forward stage subclasses :class:`Stage`, declares its parameters once in
``params`` (and its other settings, constant per pipeline, in ``options``;
any kind of :mod:`ispengine.core.settings`), and implements
:meth:`Stage.apply` against the array API. An inverse stage subclasses
:class:`InverseStage`, names the forward stage it inverts and its method, and
is built from a configured forward stage so both share the same values.

Minimal example (the ``contrib/`` vignetting plugin is a full one)::

    class Brightness(Stage):
        name = "brightness"
        params = (ParamSpec("gain", PER_CHANNEL, 0.5, 2.0, default=1.0),)

        def apply(self, x, p, xp):
            return x * p["gain"]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import array_api_compat
import numpy as np

from ispengine.core.arrays import (
    as_param,
    check_image,
    from_dlpack_like,
    is_device_array,
    move_like,
    namespace,
    to_host,
)
from ispengine.core.capabilities import Capabilities
from ispengine.core.errors import InputError, ParamError
from ispengine.core.params import ParamSpec, broadcast_param
from ispengine.core.settings import SettingBase, check_keys, coerce_table, resolve_paths

if TYPE_CHECKING:
    from ispengine.core.registry import Registry

# Inverse methods, most accurate first: the default choice follows this order.
INVERSE_METHODS = ("exact", "lut", "numerical", "learned")


def has_device_values(stage: Stage) -> bool:
    """Whether any of ``stage``'s parameter values is a device array: such a stage runs
    unfused (the fused kernels' packers read numpy constants)."""
    return any(is_device_array(v) for v in stage.values.values())


class Stage:
    """A forward ISP stage with declared parameters.

    Class attributes a subclass sets:
        name: registry name, lower-case.
        params: the numeric parameters (:class:`ParamSpec`).
        options: other settings (any :mod:`ispengine.core.settings` kind: a choice such
            as a Bayer pattern, a weights path, an integer size), constant per
            pipeline; their checked values are ``stage.config``.
        input_layout / output_layout: ``rgb`` ``(..., H, W, 3)``, ``mosaic``
            ``(..., H, W)`` or ``packed`` ``(..., H/2, W/2, 4)``.
        input_range: the pixel values the stage is defined on (used by the
            round-trip tests and documented ranges).
        needs_even_size: the input's height and width must be even (Bayer data).
        monotone: each output pixel value is a non-decreasing function of the same
            input pixel value (per channel) on ``input_range``; such stages can be
            inverted numerically or by LUT (Newton steps use the ``derivative``
            and ``scalar`` capabilities when declared).
        odd_symmetric: ``f(−x) = −f(x)``; inverses and LUTs work on ``|x|``.
        capabilities: the fast forms the stage offers besides :meth:`apply`
            (:class:`~ispengine.core.capabilities.Capabilities`: per-value scalar
            function and derivative, per-channel or per-pixel kernel, CFA-affine
            front end, demosaic estimates, array derivative); none by default.
            The engine uses only what is declared here.
        runs_on_host: :meth:`apply` is numpy code (scikit-image, OpenCV, Numba CPU
            kernels); :meth:`__call__` copies a device input (CuPy, torch, ...) and its
            parameters to the host, runs there and copies the result back to the
            input's device and namespace. A torch tensor that requires grad is
            refused (the copy would cut the graph).
        runs_in_torch: :meth:`apply` runs a torch model on numpy or torch arrays; another
            device array (CuPy) is handed to torch by DLPack (no copy on the same GPU),
            run without gradients, and handed back to the input's namespace.
        version: bumped when the math changes (keys cached LUTs).

    Parameter values may be device arrays (CuPy, torch, any array-API array):
    given to the constructor they are checked on their device
    (:meth:`ParamSpec.coerce_device <ispengine.core.settings.ParamSpec.coerce_device>`)
    and kept there; per-call values of a device namespace are trusted
    (:meth:`resolve`). Every value is moved to the input's namespace and device
    when the stage runs (:func:`~ispengine.core.arrays.as_param`).
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    options: ClassVar[tuple[SettingBase, ...]] = ()
    input_layout: ClassVar[str] = "rgb"
    output_layout: ClassVar[str] = "rgb"
    input_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    needs_even_size: ClassVar[bool] = False
    monotone: ClassVar[bool] = False
    odd_symmetric: ClassVar[bool] = False
    capabilities: ClassVar[Capabilities] = Capabilities()
    runs_on_host: ClassVar[bool] = False
    runs_in_torch: ClassVar[bool] = False
    version: ClassVar[str] = "1"

    def __init__(self, **values: Any) -> None:
        check_keys((*self.params, *self.options), values, f"stage '{self.name}'", what="parameter")
        self.values: dict[str, np.ndarray | None] = {}
        # The parameters given explicitly (constants); a predictor predicts the others.
        self.given: frozenset[str] = frozenset(
            spec.name for spec in self.params if values.get(spec.name) is not None
        )
        for spec in self.params:
            raw = values.get(spec.name)
            self.values[spec.name] = spec.default if raw is None else spec.coerce(raw)
        names = {option.name for option in self.options}
        self.config: dict[str, Any] = coerce_table(
            self.options,
            {k: v for k, v in values.items() if k in names},
            f"stage '{self.name}'",
            what="option",
        )
        self.check_params(self._checked_constants())

    @property
    def settings(self) -> dict[str, Any]:
        """Deprecated name of :attr:`config` (the options' values)."""
        warnings.warn(
            "Stage.settings is deprecated; use Stage.config", DeprecationWarning, stacklevel=2
        )
        return self.config

    @settings.setter
    def settings(self, values: dict[str, Any]) -> None:
        warnings.warn(
            "Stage.settings is deprecated; use Stage.config", DeprecationWarning, stacklevel=2
        )
        self.config = values

    # -- declarations -----------------------------------------------------
    @classmethod
    def param_spec(cls, name: str) -> ParamSpec:
        for spec in cls.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @classmethod
    def check_params(cls, values: Mapping[str, np.ndarray]) -> None:
        """Cross-parameter constraints beyond each range; raise :class:`ParamError`.

        ``values`` holds numpy arrays for the parameters known so far (constants,
        or drawn values in tests; device values given to the constructor are copied to
        the host for this check). The default accepts everything.
        """

    def _checked_constants(self) -> dict[str, np.ndarray]:
        """:meth:`constants` for :meth:`check_params`, which reads numpy arrays: device
        values are copied to the host, only for a class that declares constraints."""
        values = self.constants()
        if type(self).check_params.__func__ is Stage.check_params.__func__:
            return values
        return {k: to_host(v) if is_device_array(v) else v for k, v in values.items()}

    def constants(self) -> dict[str, np.ndarray]:
        """The parameters that have a value (given or default), by name."""
        return {k: v for k, v in self.values.items() if v is not None}

    def missing_params(self) -> list[str]:
        return [name for name, value in self.values.items() if value is None]

    def input_domain(self) -> tuple[float, float]:
        """The range of input values the stage is defined on, given its constants."""
        return self.input_range

    def monotone_domain(self, p: Mapping[str, Any], xp: Any) -> tuple[Any, Any]:
        """The interval (per element, for parameters ``p``) on which a monotone stage
        stays increasing; numerical inverses solve inside it. Defaults to
        :meth:`input_domain`."""
        return self.input_domain()

    # -- application ------------------------------------------------------
    def resolve(self, x: Any, xp: Any, overrides: Mapping[str, Any] | None = None) -> dict:
        """Parameters as arrays of ``xp`` that broadcast against ``x``.

        ``overrides`` (per-image arrays or per-pixel maps, e.g. from a predictor)
        replace the constants. numpy arrays, numbers and lists are validated
        against the declared ranges; torch and CuPy arrays are trusted as they
        are (a predictor squashes its outputs into the declared ranges, and
        checking would break autograd or synchronise the device).
        """
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.values))
        if unknown:
            raise ParamError(key=unknown[0], message=f"unknown parameter of stage '{self.name}'")
        lead = tuple(x.shape) if self.input_layout == "mosaic" else tuple(x.shape[:-1])
        resolved = {}
        checked = {}
        for spec in self.params:
            value = overrides.get(spec.name, self.values[spec.name])
            if value is None:
                raise ParamError(
                    key=spec.name, message=f"missing (range {spec.range_text()}, no default)"
                )
            if not is_device_array(value):  # numpy, numbers, lists: validate
                value = spec.coerce(value)
                if spec.name in overrides:
                    checked[spec.name] = value
            value = as_param(value, x, xp)
            resolved[spec.name] = broadcast_param(value, spec, lead, xp)
        if checked:
            self.check_params({**self._checked_constants(), **checked})
        return resolved

    def __call__(self, x: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Apply the stage to ``x`` (numpy, torch or cupy; float32 or float64); the result
        is on ``x``'s device (through the host for a :attr:`runs_on_host` stage)."""
        xp = check_image(x, self.input_layout, where="input", need_even=self.needs_even_size)
        if self.runs_on_host and not isinstance(x, np.ndarray):
            return self._call_on_host(x, params)
        if self.runs_in_torch and is_device_array(x) and not array_api_compat.is_torch_array(x):
            return self._call_in_torch(x, params)
        return self.apply(x, self.resolve(x, xp, params), xp)

    def _call_in_torch(self, x: Any, params: Mapping[str, Any] | None) -> Any:
        """Run :meth:`apply` on ``x`` handed to torch by DLPack (no gradients) and hand
        the result back to ``x``'s namespace and device."""
        import torch

        tensor = torch.from_dlpack(x)
        xp = namespace(tensor)
        with torch.no_grad():
            out = self.apply(tensor, self.resolve(tensor, xp, params), xp)
        return from_dlpack_like(out.contiguous(), x)

    def _call_on_host(self, x: Any, params: Mapping[str, Any] | None) -> Any:
        """Run :meth:`apply` on a host copy of ``x`` (parameters follow it through
        :meth:`resolve`) and move the result back to ``x``'s namespace and device."""
        if getattr(x, "requires_grad", False):
            raise InputError(
                f"stage '{self.name}' runs on the host (numpy code) and cannot "
                "differentiate a torch tensor that requires grad"
            )
        host = to_host(x)
        xp = namespace(host)
        return move_like(self.apply(host, self.resolve(host, xp, params), xp), x)

    def apply(self, x: Any, p: Mapping[str, Any], xp: Any) -> Any:
        """The stage's math. ``p`` maps parameter names to broadcastable arrays."""
        raise NotImplementedError

    def with_registry(self, registry: Registry) -> Stage:
        """This stage as run by a pipeline built on ``registry``.

        Stages that look components up when they run (the LUT inverse chooses its
        backend) return a copy that looks them up in ``registry``; the default
        returns the stage itself.
        """
        return self

    def __repr__(self) -> str:
        shown = {k: _shown(v) for k, v in self.values.items()}
        return f"{type(self).__name__}({shown | self.config})"


def _shown(value: Any) -> Any:
    """A parameter value for ``repr``: numpy values as lists, a device array as its
    type, shape and device (no copy to the host)."""
    if value is None:
        return None
    if is_device_array(value):
        return f"<{type(value).__name__} {tuple(value.shape)} on {array_api_compat.device(value)}>"
    return value.tolist()


class InverseStage(Stage):
    """The inverse of a forward stage, sharing its parameters and options.

    A subclass sets ``forward`` to the forward stage class and ``method`` to
    ``exact``, ``lut``, ``numerical`` or ``learned``; parameters, options,
    cross-parameter checks and (swapped) layouts are taken from ``forward``.
    ``inverse_settings`` declares the method's own settings (tolerances,
    backend, grid), given in a pipeline's ``[inverse.<stage>]`` table; their
    checked values are ``inverse.inverse_config``.

    Build one from a configured forward stage with :meth:`from_forward`.
    """

    forward: ClassVar[type[Stage]]
    method: ClassVar[str] = "exact"
    inverse_settings: ClassVar[tuple[SettingBase, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is None:
            return
        defaults = {
            "params": forward.params,
            "options": forward.options,
            "input_layout": forward.output_layout,
            "output_layout": forward.input_layout,
            "needs_even_size": forward.needs_even_size,
            "version": forward.version,
        }
        for attr, value in defaults.items():
            if attr not in cls.__dict__:
                setattr(cls, attr, value)
        if "check_params" not in cls.__dict__:
            cls.check_params = forward.check_params

    @classmethod
    def inverts(cls) -> str:
        return cls.forward.name

    @classmethod
    def from_forward(cls, stage: Stage, **settings: Any) -> InverseStage:
        """An inverse with the forward stage's constants and options."""
        values = stage.constants()
        inverse = cls(**values, **stage.config)
        inverse.forward_stage = stage
        inverse.inverse_config = cls.coerce_settings(settings)
        return inverse

    @classmethod
    def coerce_settings(
        cls, settings: Mapping[str, Any], *, base: Path | None = None
    ) -> dict[str, Any]:
        """Check the method's settings (``[inverse.<stage>]`` table) against
        ``inverse_settings``; every declared setting with its value or default.
        Relative path settings resolve against ``base`` (a spec file's folder)."""
        checked = coerce_table(
            cls.inverse_settings,
            settings,
            f"the {cls.method} inverse of '{cls.forward.name}'",
        )
        return resolve_paths(cls.inverse_settings, checked, base)

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.forward_stage: Stage = self.forward(**values)
        self.inverse_config: dict[str, Any] = self.coerce_settings({})

    @property
    def method_settings(self) -> dict[str, Any]:
        """Deprecated name of :attr:`inverse_config`."""
        warnings.warn(
            "InverseStage.method_settings is deprecated; use InverseStage.inverse_config",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.inverse_config
