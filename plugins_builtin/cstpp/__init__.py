"""CSTPP: unsupervised raw-to-raw mapping by per-patch polynomial transforms.

CSTPP maps the packed RAW of camera A (R, Gr, Gb, B in [0, 1]) into camera B's
colour space: a Conformer generator predicts, from the image (optionally shrunk by
M), one 14×4 second-order polynomial transform per 16×16 patch, interpolated to
every pixel and applied at full resolution; the B → A generator shares its
weights except the batch norms and the head, and both are trained CycleGAN-style
on unpaired images of the two cameras.

Registers the raw-to-raw method ``cstpp`` (:mod:`.method`: CycleGAN training on
unpaired RAW of two cameras, mapping, saving), the stage ``polynomial_transform``
(:mod:`.polynomial`, the transform itself, with constant, per-image or per-pixel
coefficients) and the parameter predictor ``cstpp`` (:mod:`.predictor`, the
generator predicting that stage's per-pixel coefficients). Importing this package
does not import torch: the networks (:mod:`.networks`) are imported when a
predictor or the method is built.

Source: "Generalizing ISP Model by Unsupervised Raw-to-raw Mapping" (CSTPP), ACM
Multimedia 2024; the generator is a Conformer (Z. Peng et al., "Conformer: Local
Features Coupling Global Representations for Visual Recognition", ICCV 2021).
"""

from ispengine.core.hookspecs import hookimpl
from plugins_builtin.cstpp.method import CSTPP
from plugins_builtin.cstpp.polynomial import PolynomialTransform
from plugins_builtin.cstpp.predictor import CSTPPPredictor

__all__ = ["CSTPP", "CSTPPPredictor", "PolynomialTransform"]


@hookimpl
def ispengine_register_stages(register):
    register(PolynomialTransform)


@hookimpl
def ispengine_register_param_predictors(register):
    register(CSTPPPredictor)


@hookimpl
def ispengine_register_raw_to_raw(register):
    register(CSTPP)
