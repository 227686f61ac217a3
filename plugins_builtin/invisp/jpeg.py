"""A differentiable simulation of baseline JPEG compression (4:2:0), in PyTorch.

Invertible-ISP trains its forward (RAW to sRGB) and inverse (sRGB to RAW) passes
through a differentiable JPEG placed between them, at quality 90, so that the
inverse learns to undo compression too. That JPEG follows Shin and Song, who
make the quantiser differentiable by replacing rounding with a cubic
approximation. :class:`DifferentiableJpeg` re-implements it; the steps, for an
RGB image x in [0, 1] of shape (N, 3, H, W):

1. Pad H and W to multiples of 16 (one 4:2:0 MCU) by edge replication, as a
   JPEG encoder extends partial MCUs; the output is cropped back at the end.
2. Scale to [0, 255] and convert to YCbCr (JFIF, ITU-R BT.601 full range)::

       Y  =       0.299    R + 0.587    G + 0.114    B
       Cb = 128 − 0.168736 R − 0.331264 G + 0.5      B
       Cr = 128 + 0.5      R − 0.418688 G − 0.081312 B

3. Subsample Cb and Cr by 2 in both directions (4:2:0) by 2×2 average pooling.
4. Shift every plane by −128 and cut it into 8×8 blocks B; transform each with
   the orthonormal 8×8 DCT-II, ``F = D B Dᵀ`` with
   ``D[k, n] = c(k) cos((2n + 1) k π / 16)``, ``c(0) = √(1/8)``, ``c(k) = √(2/8)``
   (identical to ITU-T T.81 A.3.3's ``¼ C(u) C(v) Σ Σ …``).
5. Quantise: ``F̂ = Q · round~(F / Q)`` with Q the luminance table (Y) or the
   chrominance table (Cb, Cr) of ITU-T T.81 Annex K (tables K.1 and K.2), scaled
   for quality q by the IJG rule (libjpeg's ``jpeg_quality_scaling`` and
   ``jpeg_add_quant_table``)::

       s = 5000 // q   if q < 50   else   200 − 2q        (integer division)
       Q = clip(floor((T · s + 50) / 100), 1, 255)

   The upper clip at 255 is libjpeg's baseline limit (Pillow encodes with
   ``force_baseline``); it only binds for q < 25. q = 100 gives Q = 1 everywhere.
   ``round~`` is :func:`differentiable_round`.
6. Invert the DCT, ``B̂ = Dᵀ F̂ D``, and shift back by +128.
7. Upsample Cb and Cr by 2 **bilinearly** (half-pixel centres, edges replicated):
   this is the triangle filter of libjpeg's default "fancy" h2v2 upsampling
   (weights 3/4 and 1/4), so the simulation follows what a real decoder such as
   Pillow's shows, more closely than nearest-neighbour repetition would.
8. Convert back to RGB with the exact inverse of the matrix of step 2 (JFIF's
   rounded ``R = Y + 1.402 (Cr − 128)`` etc. are this inverse to 4 decimals),
   divide by 255, crop, and clamp to [0, 1] with a **straight-through gradient**:
   the value is clamped, as a decoder clamps samples, but the gradient is passed
   as if there were no clamp, so that pixels at or near saturation still receive
   one during training.

A real codec also rounds the YCbCr samples, the subsampled chroma and the decoded
RGB to integers and entropy-codes losslessly; the simulation rounds only the DCT
coefficients (the lossy step) and works in floating point elsewhere.

Sources: Y. Xing, Z. Qian, Q. Chen, "Invertible Image Signal Processing", CVPR 2021,
§3.3 (differentiable JPEG simulation between the RAW-to-sRGB and sRGB-to-RAW passes
during training, quality 90); R. Shin, D. Song, "JPEG-resistant Adversarial Images",
NeurIPS 2017 Workshop on Machine Learning and Computer Security, §3 (the
differentiable approximation ``round(x) + (x − round(x))³``); ITU-T Recommendation
T.81 (1992) | ISO/IEC 10918-1, Annex A.3.3 (the DCT) and Annex K.1 (the example
quantisation tables); ITU-R BT.601 and the JFIF specification (E. Hamilton, "JPEG File
Interchange Format", version 1.02, 1992) for the YCbCr conversion.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ispengine.core.errors import InputError, ParamError

__all__ = [
    "CHROMINANCE_TABLE",
    "LUMINANCE_TABLE",
    "RGB_TO_YCBCR",
    "YCBCR_TO_RGB",
    "DifferentiableJpeg",
    "dct_matrix",
    "differentiable_round",
    "quantisation_tables",
]

#: ITU-T T.81 Annex K, table K.1: the example luminance quantisation table (natural
#: row-major order; row = vertical frequency).
LUMINANCE_TABLE: np.ndarray = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=np.int64,
)
LUMINANCE_TABLE.setflags(write=False)

#: ITU-T T.81 Annex K, table K.2: the example chrominance quantisation table.
CHROMINANCE_TABLE: np.ndarray = np.array(
    [
        [17, 18, 24, 47, 99, 99, 99, 99],
        [18, 21, 26, 66, 99, 99, 99, 99],
        [24, 26, 56, 99, 99, 99, 99, 99],
        [47, 66, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
        [99, 99, 99, 99, 99, 99, 99, 99],
    ],
    dtype=np.int64,
)
CHROMINANCE_TABLE.setflags(write=False)

#: JFIF / ITU-R BT.601 full-range RGB → YCbCr matrix (rows Y, Cb, Cr), applied to
#: samples in [0, 255]; Cb and Cr are then offset by +128.
RGB_TO_YCBCR: np.ndarray = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ],
    dtype=np.float64,
)
RGB_TO_YCBCR.setflags(write=False)

#: The exact inverse of :data:`RGB_TO_YCBCR` (applied after removing the offset).
YCBCR_TO_RGB: np.ndarray = np.linalg.inv(RGB_TO_YCBCR)
YCBCR_TO_RGB.setflags(write=False)

_CHROMA_OFFSET = np.array([0.0, 128.0, 128.0])
_BLOCK = 8
_MCU = 16  # one 4:2:0 minimum coded unit: 2×2 luminance blocks, one per chroma plane


def differentiable_round(x: Tensor) -> Tensor:
    """Shin and Song's differentiable rounding, ``round(x) + (x − round(x))³``.

    Its value is within 0.125 of ``round(x)`` (and within 10⁻³ where x is within
    0.1 of an integer); its derivative is ``3 (x − round(x))²``, since
    :func:`torch.round` passes no gradient.
    """
    rounded = torch.round(x)
    return rounded + (x - rounded) ** 3


def quantisation_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """The (luminance, chrominance) 8×8 quantisation tables for ``quality`` (1..100).

    The Annex K tables scaled by libjpeg's rule with baseline clipping, as the
    module docstring gives; these are the tables Pillow writes for ``quality=q``.
    """
    quality = _check_quality(quality)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(  # type: ignore[return-value]
        np.clip((table * scale + 50) // 100, 1, 255)
        for table in (LUMINANCE_TABLE, CHROMINANCE_TABLE)
    )


def dct_matrix(size: int = _BLOCK) -> np.ndarray:
    """The orthonormal DCT-II matrix D (``D @ D.T = I``): ``F = D B Dᵀ``, ``B = Dᵀ F D``."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos((2 * n + 1) * k * math.pi / (2 * size)) * math.sqrt(2.0 / size)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def _check_quality(quality: object) -> int:
    if isinstance(quality, bool) or not isinstance(quality, Integral):
        raise ParamError(f"must be an integer from 1 to 100, got {quality!r}", key="jpeg_quality")
    if not 1 <= int(quality) <= 100:
        raise ParamError(f"must be from 1 to 100, got {quality!r}", key="jpeg_quality")
    return int(quality)


class DifferentiableJpeg(nn.Module):
    """Differentiable JPEG compression and decompression of RGB images in [0, 1].

    ``DifferentiableJpeg(quality)(rgb)`` returns an image of the same shape,
    device and dtype that approximates what a baseline 4:2:0 JPEG codec at that
    quality decodes (see the module docstring for the steps), with gradients
    through every step. It has no learnable parameters; its buffers (the DCT
    matrix, the two quantisation tables and the colour matrices) follow
    ``.to(device)`` but are not saved in a ``state_dict``, and each call casts
    them to the input's dtype.

    Args:
        quality: the IJG quality factor, an integer from 1 to 100.

    Raises:
        ParamError: (key ``jpeg_quality``) when ``quality`` is not such an integer.
    """

    dct: Tensor
    luminance_q: Tensor
    chrominance_q: Tensor
    rgb_to_ycbcr: Tensor
    ycbcr_to_rgb: Tensor
    chroma_offset: Tensor

    def __init__(self, quality: int = 90) -> None:
        super().__init__()
        self.quality = _check_quality(quality)
        luminance, chrominance = quantisation_tables(self.quality)
        dtype = torch.get_default_dtype()
        constants = {
            "dct": dct_matrix(),
            "luminance_q": luminance,
            "chrominance_q": chrominance,
            "rgb_to_ycbcr": RGB_TO_YCBCR,
            "ycbcr_to_rgb": YCBCR_TO_RGB,
            "chroma_offset": _CHROMA_OFFSET.reshape(1, 3, 1, 1),
        }
        for name, value in constants.items():
            self.register_buffer(name, torch.tensor(value, dtype=dtype), persistent=False)

    def extra_repr(self) -> str:
        return f"quality={self.quality}"

    def forward(self, rgb: Tensor) -> Tensor:
        """Compress and decompress ``rgb``, a floating (N, 3, H, W) tensor in [0, 1].

        Any H, W ≥ 1 is accepted: the image is padded to multiples of 16 by edge
        replication and the result cropped back. Values outside [0, 1] are
        treated as they come and the output is clamped to [0, 1].

        Raises:
            InputError: when ``rgb`` is not a floating tensor of shape (N, 3, H, W).
        """
        if not isinstance(rgb, Tensor) or rgb.ndim != 4 or rgb.shape[1] != 3:
            shape = tuple(rgb.shape) if isinstance(rgb, Tensor) else type(rgb).__name__
            raise InputError(f"DifferentiableJpeg expects an (N, 3, H, W) tensor, got {shape}")
        if not rgb.is_floating_point():
            raise InputError(f"DifferentiableJpeg expects a floating tensor, got {rgb.dtype}")
        height, width = rgb.shape[-2:]
        if height == 0 or width == 0:
            raise InputError(
                f"DifferentiableJpeg expects a non-empty image, got {tuple(rgb.shape)}"
            )
        options = {"device": rgb.device, "dtype": rgb.dtype}

        pad_h = -height % _MCU
        pad_w = -width % _MCU
        x = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else rgb

        to_ycbcr = self.rgb_to_ycbcr.to(**options)
        offset = self.chroma_offset.to(**options)
        ycbcr = torch.einsum("ij,njhw->nihw", to_ycbcr, x * 255.0) + offset

        luma = ycbcr[:, :1]
        chroma = F.avg_pool2d(ycbcr[:, 1:], kernel_size=2, stride=2)
        luma = self._compress_plane(luma - 128.0, self.luminance_q) + 128.0
        chroma = self._compress_plane(chroma - 128.0, self.chrominance_q) + 128.0
        chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)

        to_rgb = self.ycbcr_to_rgb.to(**options)
        ycbcr = torch.cat([luma, chroma], dim=1) - offset
        out = torch.einsum("ij,njhw->nihw", to_rgb, ycbcr) / 255.0
        out = out[..., :height, :width]
        # Straight-through clamp: the value of clamp(out, 0, 1), the gradient of out.
        return out + (out.clamp(0.0, 1.0) - out).detach()

    def _compress_plane(self, planes: Tensor, table: Tensor) -> Tensor:
        """DCT, quantise (with :func:`differentiable_round`) and invert, per 8×8 block.

        ``planes`` is (N, C, H, W), H and W multiples of 8, already shifted by −128.
        """
        n, c, h, w = planes.shape
        dct = self.dct.to(device=planes.device, dtype=planes.dtype)
        q = table.to(device=planes.device, dtype=planes.dtype)
        blocks = planes.reshape(n, c, h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).transpose(3, 4)
        coefficients = dct @ blocks @ dct.T
        coefficients = differentiable_round(coefficients / q) * q
        blocks = dct.T @ coefficients @ dct
        return blocks.transpose(3, 4).reshape(n, c, h, w)
