"""What CSTPP's method, predictor and networks share: sizes, directions, downsampling.

No torch here: the plugin's registration imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ispengine.core.settings import OptionSpec
from ispengine.learning.raw_to_raw import DIRECTIONS

#: Test- and training-time downsampling factors M (the paper's Table 4).
DOWNSAMPLE_FACTORS = (1, 2, 4, 8, 16)
#: The generator's direction index of each mapping direction (its batch norms and head).
DIRECTION_INDEX = {name: index for index, name in enumerate(DIRECTIONS)}

CONFIG_SETTING = OptionSpec(
    "config", ("published", "small"), "published", "generator size (published: ≈5.6M)"
)


def downsample_setting(name: str, description: str) -> OptionSpec:
    """A choice among :data:`DOWNSAMPLE_FACTORS` (given as integers or strings)."""
    return OptionSpec(name, tuple(map(str, DOWNSAMPLE_FACTORS)), "1", description)


def integer_choices(settings: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """``settings`` with TOML integers of the named downsampling choices as strings."""
    out = dict(settings)
    for name in names:
        if isinstance(out.get(name), int) and not isinstance(out[name], bool):
            out[name] = str(out[name])
    return out
