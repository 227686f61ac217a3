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
  :func:`ispengine.learning.saved_method.save_method` with its own format name;
  ``num_parameters()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ispengine.core.registry import Registry
from ispengine.io.raw.image import CaptureParams, RawImage
from ispengine.learning.saved_method import SavedMethod, load_saved_method, registered_method
from ispengine.learning.srgb_to_raw import FORMAT as SRGB_TO_RAW_FORMAT
from ispengine.learning.srgb_to_raw import Budget, FitReport

if TYPE_CHECKING:
    from ispengine.learning.datasets import PairedDataset

#: The "format" of a saved RAW-to-sRGB method's settings file.
FORMAT = "ispengine-raw2srgb"


class RawToSrgbMethod(SavedMethod):
    """Base class of RAW-to-sRGB methods (see the module docstring).

    Class attributes a subclass sets (:class:`~ispengine.learning.saved_method.SavedMethod`):
        name: registry name, lower-case.
        summary: one line for listings.
        settings: the declared constructor keywords (:mod:`ispengine.core.settings`);
            their checked values are ``method.config``, saved by :meth:`save`.
        learned: ``fit`` trains weights (it needs torch).
    """

    family: ClassVar[str] = "RAW-to-sRGB method"
    file_format: ClassVar[str] = FORMAT

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

    @classmethod
    def load(cls, path: str | Path) -> RawToSrgbMethod:
        """Rebuild a method written by :meth:`save` (from the settings file or the weights)."""
        return load_raw_to_srgb(path, expected=cls)


def raw_to_srgb_class(name: str, registry: Registry | None = None) -> type[RawToSrgbMethod]:
    """The RAW-to-sRGB method registered as ``name`` (in ``registry``, default: the plugins').

    Raises :class:`~ispengine.core.errors.UnknownComponentError` for an unknown name and
    :class:`~ispengine.core.errors.PluginError` naming the plugin when what it registered
    is not a :class:`RawToSrgbMethod`.
    """
    return registered_method("raw_to_srgb", name, RawToSrgbMethod, registry)


def load_raw_to_srgb(path: str | Path, expected: type | None = None) -> RawToSrgbMethod:
    """Rebuild a RAW-to-sRGB method saved by :meth:`RawToSrgbMethod.save` (the ``.json``
    or weights file); ``expected`` (a concrete class) makes any other method an error.

    A file saved by an sRGB-to-RAW method is accepted too when a RAW-to-sRGB method of
    the same name is registered (a model that holds both directions, such as
    ``paramisp`` trained with ``directions = "both"``); its settings and weights go to
    that method."""
    return load_saved_method(
        path,
        formats=(FORMAT, SRGB_TO_RAW_FORMAT),
        lookup=raw_to_srgb_class,
        base=RawToSrgbMethod,
        expected=expected,
    )
