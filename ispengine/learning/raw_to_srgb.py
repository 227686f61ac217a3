"""The RAW-to-sRGB method interface: forward ISPs, learned or not, head to head.

A RAW-to-sRGB method renders a camera's RAW image as the sRGB image that
camera would have produced. Plugins register subclasses of
:class:`RawToSrgbMethod` through ``ispengine_register_raw_to_srgb``. One
interface serves fixed pipelines (``camera_default``), learned function ISPs,
U-Nets and camera-parameter-conditioned networks (ParamISP):

* ``fit(dataset, budget)``: learn from paired data (the train split of a
  :class:`~ispengine.learning.datasets.PairedDataset`) within a
  :class:`~ispengine.learning.srgb_to_raw.Budget`; fixed methods do nothing.
* ``render(raw, capture=)``: the sRGB image, float32 ``(H, W, 3)`` in [0, 1],
  of one :class:`~ispengine.io.raw.image.RawImage` (raw digital numbers or
  normalised; its metadata gives pattern, levels, white balance and colour
  matrix; ``capture`` overrides the RAW's own capture parameters).
* ``save(path)`` / ``load(path)``: settings and weights, the file layout of
  :func:`ispengine.learning.srgb_to_raw.save_method` with its own format name;
  ``num_parameters()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ispengine.core.errors import InputError, PluginError
from ispengine.core.plugins import get_registry
from ispengine.core.registry import Registry
from ispengine.core.settings import SettingBase, coerce_table
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.srgb_to_raw import FORMAT as SRGB_TO_RAW_FORMAT
from ispengine.learning.srgb_to_raw import Budget, FitReport, load_method, save_method

if TYPE_CHECKING:
    from ispengine.learning.datasets import PairedDataset

#: The "format" of a saved RAW-to-sRGB method's settings file.
FORMAT = "ispengine-raw2srgb"


class RawToSrgbMethod:
    """Base class of RAW-to-sRGB methods (see the module docstring).

    Class attributes a subclass sets:
        name: registry name, lower-case.
        summary: one line for listings.
        settings: the declared constructor keywords (:mod:`ispengine.core.settings`);
            their checked values are ``method.config``, saved by :meth:`save`.
        learned: ``fit`` trains weights (it needs torch).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    settings: ClassVar[tuple[SettingBase, ...]] = ()
    learned: ClassVar[bool] = False
    file_format: ClassVar[str] = FORMAT

    def __init__(self, **settings: Any) -> None:
        self.config: dict[str, Any] = coerce_table(
            self.settings, settings, f"RAW-to-sRGB method '{self.name}'"
        )

    def fit(
        self,
        dataset: PairedDataset,
        budget: Budget,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
    ) -> FitReport:
        """Learn from ``dataset`` (its train split) within ``budget``. The default
        does nothing: fixed pipelines need no training."""
        return FitReport(note="fixed: nothing to fit")

    def render(self, raw: RawImage, *, capture: CaptureParams | None = None) -> np.ndarray:
        """The sRGB rendering of ``raw``: float32 ``(H, W, 3)`` in [0, 1]."""
        raise NotImplementedError

    def num_parameters(self) -> int:
        """Learned parameters (0 for fixed methods)."""
        return 0

    def state(self) -> dict[str, Any]:
        """Arrays to store beside the settings (weights; empty for fixed methods)."""
        return {}

    def load_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise InputError(f"method '{self.name}' stores no weights, got {sorted(state)[:3]}")

    def save(self, path: str | Path) -> Path:
        """Write the settings (``PATH`` with suffix ``.json``) and, when there are any,
        the weights (``PATH``, safetensors or ``.pt``); returns the settings file."""
        return save_method(self, path)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> RawToSrgbMethod:
        """Rebuild a method written by :meth:`save` (from the settings file or the weights)."""
        return load_raw_to_srgb(path, expected=cls)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"


def raw_to_srgb_class(name: str, registry: Registry | None = None) -> type[RawToSrgbMethod]:
    """The RAW-to-sRGB method registered as ``name`` (in ``registry``, default: the plugins').

    Raises :class:`~ispengine.core.errors.UnknownComponentError` for an unknown name and
    :class:`~ispengine.core.errors.PluginError` naming the plugin when what it registered
    is not a :class:`RawToSrgbMethod`.
    """
    record = (registry or get_registry()).get("raw_to_srgb", name)
    if not (isinstance(record.cls, type) and issubclass(record.cls, RawToSrgbMethod)):
        raise PluginError(
            f"plugin '{record.plugin}': '{name}' is not a subclass of RawToSrgbMethod"
        )
    return record.cls


def load_raw_to_srgb(path: str | Path, expected: type | None = None) -> RawToSrgbMethod:
    """Rebuild a RAW-to-sRGB method saved by :meth:`RawToSrgbMethod.save` (the ``.json``
    or weights file); ``expected`` (a concrete class) makes any other method an error.

    A file saved by an sRGB-to-RAW method is accepted too when a RAW-to-sRGB method of
    the same name is registered (a model that holds both directions, such as
    ``paramisp`` trained with ``directions = "both"``); its settings and weights go to
    that method."""
    return load_method(
        path,
        expected,
        file_format=(FORMAT, SRGB_TO_RAW_FORMAT),
        lookup=raw_to_srgb_class,
        base=RawToSrgbMethod,
    )
