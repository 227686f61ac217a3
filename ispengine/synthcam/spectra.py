"""Spectral data of SynthCam, resampled once onto one wavelength grid.

Everything spectral comes from colour-science's datasets: the CIE 1931 2°
colour-matching functions, CIE illuminants (``colour.SDS_ILLUMINANTS``),
camera sensitivities measured by the UK National Physical Laboratory
(``colour.MSDS_CAMERA_SENSITIVITIES``) and surface reflectances: the
ColorChecker (N. Ohta's measurements, the BabelColor average, ISO 17321-1),
the CIE 13.3-1995 test colour samples and the NIST CQS 9.0 samples.

The grid is 400–700 nm in 10 nm steps (31 samples): the Sigma SD Merrill data
starts at 400 and ends at 680 nm, and the others are resampled by linear
interpolation. Outside a dataset's range its values are taken as 0 (the
cameras' IR/UV cut filters; the reflectance sets cover the whole grid). On a
uniform grid a spectral integral ``∫ a(λ) b(λ) dλ`` is a dot product up to
the constant ``Δλ``, which every normalisation below cancels.

colour-science is imported here, on first use, never when ``ispengine`` is
imported; the results are cached per process.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import numpy as np

WAVELENGTHS = np.arange(400.0, 701.0, 10.0)
WAVELENGTHS.setflags(write=False)

CMFS_NAME = "CIE 1931 2 Degree Standard Observer"

# Reflectance sets: (id, colour-science container, key).
COLOURCHECKERS = {
    "colorchecker_ohta": "ColorChecker N Ohta",
    "colorchecker_babelcolor": "BabelColor Average",
    "colorchecker_iso17321": "ISO 17321-1",
}
TEST_SAMPLES = {"cie_tcs_1995": ("SDS_TCS", "CIE 1995"), "nist_cqs_9": ("SDS_VS", "NIST CQS 9.0")}
# Spectrally flat greys (reflectance factor), to give every scene neutrals.
FLAT_GREYS = (0.03, 0.09, 0.18, 0.36, 0.6, 0.9)


def colour_module() -> Any:
    """colour-science, imported quietly (it warns about optional plotting support)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour

    return colour


def resample(domain: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on :data:`WAVELENGTHS` by linear interpolation, 0 outside ``domain``.

    ``values`` is ``(n,)`` or ``(n, k)``; the result ``(31,)`` or ``(31, k)``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        return np.interp(WAVELENGTHS, domain, values, left=0.0, right=0.0)
    return np.stack(
        [
            np.interp(WAVELENGTHS, domain, values[:, i], left=0.0, right=0.0)
            for i in range(values.shape[1])
        ],
        axis=-1,
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array, dtype=np.float64)
    array.setflags(write=False)
    return array


@cache
def cmfs() -> np.ndarray:
    """CIE 1931 2° colour-matching functions x̄, ȳ, z̄, ``(31, 3)``."""
    data = colour_module().MSDS_CMFS[CMFS_NAME]
    return _frozen(resample(data.domain, data.values))


@cache
def illuminant(name: str) -> np.ndarray:
    """Relative spectral power ``(31,)`` of a CIE illuminant (``"D65"``, ``"A"``, ``"FL2"``…)."""
    data = colour_module().SDS_ILLUMINANTS[name]
    return _frozen(resample(data.domain, data.values))


@cache
def camera_sensitivities(key: str) -> np.ndarray:
    """A camera's measured R, G, B spectral sensitivities (colour-science key), ``(31, 3)``."""
    data = colour_module().MSDS_CAMERA_SENSITIVITIES[key]
    return _frozen(resample(data.domain, data.values))


def _sets() -> dict[str, Any]:
    colour = colour_module()
    from colour.quality import datasets as quality

    found = {name: colour.SDS_COLOURCHECKERS[key] for name, key in COLOURCHECKERS.items()}
    for name, (container, key) in TEST_SAMPLES.items():
        found[name] = getattr(quality, container)[key]
    return found


@cache
def reflectance_set(name: str) -> np.ndarray:
    """The reflectances of one set (a key of :data:`COLOURCHECKERS` or
    :data:`TEST_SAMPLES`, or ``"flat_greys"``), ``(k, 31)``, in the set's order."""
    if name == "flat_greys":
        return _frozen(np.repeat(np.asarray(FLAT_GREYS)[:, None], WAVELENGTHS.size, axis=1))
    spectra = _sets()[name]
    return _frozen(np.stack([resample(sd.domain, sd.values) for sd in spectra.values()]))


def reflectance_set_names() -> tuple[str, ...]:
    return (*COLOURCHECKERS, *TEST_SAMPLES, "flat_greys")


@cache
def all_reflectances() -> np.ndarray:
    """Every reflectance of every set, concatenated in :func:`reflectance_set_names` order."""
    return _frozen(np.concatenate([reflectance_set(name) for name in reflectance_set_names()]))


def xyz_of(reflectances: np.ndarray, spd: np.ndarray) -> np.ndarray:
    """CIE XYZ of reflectances ``(..., 31)`` under ``spd``, scaled so a perfect white has Y = 1."""
    weights = cmfs() * spd[:, None]
    return reflectances @ weights / weights[:, 1].sum()
