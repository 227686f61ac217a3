"""Hypothesis strategies and checks derived from stage declarations.

Public so that a third-party plugin's test suite gets the same generic
round-trip test as the built-ins::

    from hypothesis import given, strategies as st
    from ispengine.testing import assert_round_trip, stage_examples

    @given(st.data())
    def test_my_stage_round_trips(data):
        assert_round_trip(MyStageInverse, data.draw(stage_examples(MyStage)), "float64")

A learned inverse is approximate: :func:`assert_round_trip` returns its
measured error (pass its ``weights`` in ``settings``) instead of asserting
exactness.

Parameters are drawn over each :class:`~ispengine.core.params.ParamSpec`'s whole
declared range (constants, or per-pixel maps for ``local`` parameters),
options over all their choices, and images over the stage's input domain.
Importing this module needs ``hypothesis`` (a test dependency).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import frozen
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ispengine.core.errors import ParamError
from ispengine.core.params import ParamSpec
from ispengine.core.settings import OptionSpec, SettingBase
from ispengine.core.stage import InverseStage, Stage

# Round-trip tolerances relative to the input range (benchmarks.md).
TOLERANCE = {"float64": 1e-9, "float32": 1e-5}


@frozen
class StageExample:
    """A drawn stage configuration and input image (float64)."""

    values: dict[str, np.ndarray]
    options: dict[str, Any]
    image: np.ndarray


def _values(spec: ParamSpec, lead: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    elements = st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np.float64, lead + spec.shape, elements=elements)


def _option_values(setting: SettingBase) -> st.SearchStrategy[Any]:
    """Every choice of a choice setting; the default of any other kind (a size, a path)."""
    if isinstance(setting, OptionSpec):
        return st.sampled_from(setting.choices)
    return st.just(setting.default_value())


def _image_shape(stage: type[Stage], height: int, width: int) -> tuple[int, ...]:
    if stage.input_layout == "mosaic":
        return (height, width)
    return (height, width, 4 if stage.input_layout == "packed" else 3)


@st.composite
def stage_examples(draw: Any, stage: type[Stage], *, max_size: int = 6) -> StageExample:
    """Draw parameters, options and an input image for a forward stage class."""
    step = 2 if stage.needs_even_size else 1
    height = step * draw(st.integers(1, max_size // step))
    width = step * draw(st.integers(1, max_size // step))
    local = draw(st.booleans())
    values = {
        spec.name: draw(_values(spec, (height, width) if local and spec.local else ()))
        for spec in stage.params
    }
    options = {o.name: draw(_option_values(o)) for o in stage.options}
    try:
        configured = stage(**values, **options)
    except ParamError:
        from hypothesis import reject

        reject()
    low, high = configured.input_domain()
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False)
    image = draw(hnp.arrays(np.float64, _image_shape(stage, height, width), elements=elements))
    return StageExample(values, options, image)


def round_trip_error(
    inverse: type[InverseStage],
    example: StageExample,
    dtype: str,
    settings: Mapping[str, Any] | None = None,
) -> float:
    """max |inverse(forward(x)) − x| relative to the forward stage's input range.

    ``settings`` are the inverse's method settings (e.g. a learned inverse's
    ``weights``), as in a pipeline's ``[inverse.<label>]`` table.
    """
    forward = inverse.forward(**example.values, **example.options)
    backward = inverse.from_forward(forward, **(settings or {}))
    x = example.image.astype(dtype)
    restored = backward(forward(x))
    assert restored.dtype == x.dtype, f"{inverse.name} changed dtype {x.dtype} -> {restored.dtype}"
    assert restored.shape == x.shape
    low, high = forward.input_domain()
    scale = max(high - low, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(restored.astype(np.float64) - x.astype(np.float64)))) / scale


def assert_round_trip(
    inverse: type[InverseStage],
    example: StageExample,
    dtype: str,
    settings: Mapping[str, Any] | None = None,
    *,
    tolerance: float | None = None,
) -> float:
    """Check the round trip of ``example`` through ``inverse``; return its measured error.

    Exact, LUT and numerical inverses must meet ``tolerance`` (default
    :data:`TOLERANCE` for ``dtype``). A learned inverse is approximate: its
    error is measured and returned for the caller to report, and asserted only
    to be finite and, when ``tolerance`` is given, within it.
    """
    error = round_trip_error(inverse, example, dtype, settings)
    if inverse.method == "learned" and tolerance is None:
        assert np.isfinite(error), f"{inverse.name}: round trip gives NaN or Inf"
        return error
    limit = TOLERANCE[dtype] if tolerance is None else tolerance
    assert error <= limit, (
        f"{inverse.name}: round-trip error {error:.3g} > {limit:g} ({dtype}) for "
        f"{example.values} {example.options}"
    )
    return error
