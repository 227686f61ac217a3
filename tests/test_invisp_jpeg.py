"""The differentiable JPEG of Invertible-ISP: tables, transforms, a real codec, gradients.

The simulation is compared with Pillow's libjpeg at the same quality and 4:2:0
subsampling. Measured on the 64×96 test image below (seeds 0-5, Pillow 13 with
libjpeg-turbo): mean |simulation − Pillow| is 0.71-0.80 /255 at quality 90 and
1.33-1.46 /255 at quality 10; the simulation's mean error against the original is
0.81-0.83 (q 90) and 0.87-0.88 (q 10) times Pillow's. It is below 1 because the
cubic rounding moves a coefficient by |r − r³| ≤ |r| instead of |r| (r the
fractional part of the rounding; E|r − r³| / E|r| = 0.875 for uniform r). Without
the quantisation the ratio falls to about 0.3, and with nearest-neighbour chroma
upsampling the distance to Pillow rises above 1 /255, so the bounds below catch both.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import torch.nn.functional as F  # noqa: E402

from ispengine.core.errors import InputError, ParamError  # noqa: E402
from plugins_builtin.invisp.jpeg import (  # noqa: E402
    RGB_TO_YCBCR,
    YCBCR_TO_RGB,
    DifferentiableJpeg,
    dct_matrix,
    differentiable_round,
    quantisation_tables,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def smooth_image(
    seed: int, height: int = 64, width: int = 96, saturation: float = 0.15, grey: bool = False
) -> np.ndarray:
    """A smooth random (H, W, 3) uint8 image: bicubically enlarged noise, luminance
    varying over 8 px and chrominance over 16 px (like a natural image's)."""
    rng = np.random.default_rng(seed)

    def enlarge(small: np.ndarray) -> np.ndarray:
        big = F.interpolate(
            torch.from_numpy(small)[None], size=(height, width), mode="bicubic", align_corners=False
        )
        return big[0].numpy()

    luma = enlarge(rng.random((1, height // 8, width // 8)))
    chroma = 0.0 if grey else enlarge(rng.random((3, height // 16, width // 16)) - 0.5)
    image = np.broadcast_to(
        np.clip(0.2 + 0.6 * luma + 2 * saturation * chroma, 0, 1), (3, height, width)
    )
    return np.round(image.transpose(1, 2, 0) * 255).astype(np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 → (1, 3, H, W) float64 in [0, 1]."""
    return torch.from_numpy(image.astype(np.float64) / 255).permute(2, 0, 1)[None]


def simulate(image: np.ndarray, quality: int) -> np.ndarray:
    """The simulation's output for a uint8 image, as (H, W, 3) float64 in [0, 1]."""
    with torch.no_grad():
        out = DifferentiableJpeg(quality).double()(to_tensor(image))
    return out[0].permute(1, 2, 0).numpy()


def pillow_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode with Pillow (4:2:0, the IJG-scaled standard tables) and decode, in [0, 1]."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality, subsampling=2)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float64) / 255


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


# ---------------------------------------------------------------- constants


@pytest.mark.parametrize("quality", [1, 10, 25, 30, 49, 50, 75, 90, 99, 100])
def test_quantisation_tables_are_the_ones_pillow_writes(quality):
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(
        buffer, "JPEG", quality=quality, subsampling=2
    )
    buffer.seek(0)
    with Image.open(buffer) as written:
        tables = written.quantization
    luminance, chrominance = quantisation_tables(quality)
    np.testing.assert_array_equal(luminance.ravel(), list(tables[0]))
    np.testing.assert_array_equal(chrominance.ravel(), list(tables[1]))


def test_quantisation_tables_at_the_extremes():
    luminance, chrominance = quantisation_tables(100)
    assert (luminance == 1).all() and (chrominance == 1).all()
    luminance, chrominance = quantisation_tables(50)  # scale 100: the Annex K tables
    assert luminance[0, 0] == 16 and luminance[7, 7] == 99 and chrominance[0, 0] == 17
    luminance, _ = quantisation_tables(1)  # baseline: clipped to 255
    assert luminance.max() == 255


def test_dct_matrix_is_the_orthonormal_dct_ii():
    scipy_fft = pytest.importorskip("scipy.fft")
    d = dct_matrix()
    np.testing.assert_allclose(d @ d.T, np.eye(8), atol=1e-12)
    np.testing.assert_allclose(d, scipy_fft.dct(np.eye(8), norm="ortho", axis=0), atol=1e-12)


def test_colour_matrices_are_jfif():
    np.testing.assert_allclose(RGB_TO_YCBCR.sum(axis=1), [1.0, 0.0, 0.0], atol=1e-12)
    # JFIF's decoding coefficients are the exact inverse, rounded.
    np.testing.assert_allclose(YCBCR_TO_RGB[0], [1.0, 0.0, 1.402], atol=1e-5)
    np.testing.assert_allclose(YCBCR_TO_RGB[1], [1.0, -0.344136, -0.714136], atol=1e-5)
    np.testing.assert_allclose(YCBCR_TO_RGB[2], [1.0, 1.772, 0.0], atol=1e-5)


# ---------------------------------------------------------------- rounding


def test_differentiable_round_is_near_round_close_to_integers():
    integers = torch.arange(-300, 301, dtype=torch.float64)
    offsets = torch.linspace(-0.09, 0.09, 19, dtype=torch.float64)
    x = (integers[:, None] + offsets[None, :]).ravel()
    assert torch.allclose(differentiable_round(x), torch.round(x), atol=1e-3, rtol=0)
    # Away from integers it is a cubic, not a step: x = k + 0.3 gives k + 0.027.
    assert differentiable_round(torch.tensor(4.3, dtype=torch.float64)).item() == pytest.approx(
        4.027
    )


def test_differentiable_round_derivative_is_three_r_squared():
    x = torch.linspace(-5.2, 5.2, 301, dtype=torch.float64, requires_grad=True)
    differentiable_round(x).sum().backward()
    r = x.detach() - torch.round(x.detach())
    assert torch.allclose(x.grad, 3 * r**2, atol=1e-12)
    assert x.grad.max() > 0.5  # not the zero gradient of plain rounding


# ---------------------------------------------------------------- the codec


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(smooth_image(0, grey=True), id="grey"),
        pytest.param(
            np.clip(smooth_image(1, grey=True).astype(int) + [20, -10, -25], 0, 255).astype(
                np.uint8
            ),
            id="constant-chroma",
        ),
    ],
)
def test_quality_100_is_nearly_lossless(image):
    # Measured: mean 0.19 /255, max 0.95 /255 (the cubic rounding's |r − r³| ≤ 0.385
    # per coefficient, with Q = 1).
    out = simulate(image, 100)
    error = np.abs(out - image / 255)
    assert error.max() < 1.5 / 255
    assert error.mean() < 0.3 / 255


@pytest.mark.parametrize(
    ("quality", "mae_bound"),
    [pytest.param(90, 1.0 / 255, id="q90"), pytest.param(10, 2.0 / 255, id="q10")],
)
def test_matches_pillow(quality, mae_bound):
    image = smooth_image(0)
    original = image / 255
    simulated = simulate(image, quality)
    real = pillow_jpeg(image, quality)
    assert mae(simulated, real) < mae_bound
    # It loses about as much as the real codec: less (r − r³ instead of r per
    # coefficient), but not much less, which an unquantised simulation would.
    ratio = mae(simulated, original) / mae(real, original)
    assert 0.75 < ratio < 1.0


def test_lower_quality_loses_more():
    image = smooth_image(2)
    original = image / 255
    error_90 = mae(simulate(image, 90), original)
    error_10 = mae(simulate(image, 10), original)
    assert error_90 > 0.5 / 255  # q 90 is lossy (0.88 /255 measured)
    assert error_10 > 4 * error_90  # 7.0 /255 measured


def test_gradient_flows_to_every_pixel():
    rgb = to_tensor(smooth_image(3, height=32, width=48)).requires_grad_()
    DifferentiableJpeg(90).double()(rgb).sum().backward()
    assert rgb.grad is not None
    assert torch.isfinite(rgb.grad).all()
    assert (rgb.grad.abs() > 0).float().mean() > 0.99


def test_clamp_passes_the_gradient_straight_through():
    rgb = torch.full((1, 3, 16, 16), 1.2, dtype=torch.float64, requires_grad=True)
    out = DifferentiableJpeg(90).double()(rgb)
    assert torch.equal(out, torch.ones_like(out))  # clamped value
    out.sum().backward()
    assert rgb.grad.abs().min() > 0.1  # a plain clamp would give zero here


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (16, 16), (17, 33), (40, 9)])
def test_any_size_keeps_its_shape(size):
    rgb = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    out = DifferentiableJpeg(90)(rgb)
    assert out.shape == rgb.shape
    assert out.dtype == rgb.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_edge_padding_keeps_a_flat_image_flat():
    rgb = torch.tensor([0.3, 0.5, 0.7]).view(1, 3, 1, 1).expand(1, 3, 7, 13)
    out = DifferentiableJpeg(50)(rgb)
    assert torch.allclose(out, rgb, atol=1e-3)


def test_follows_the_input_dtype_and_saves_no_state():
    module = DifferentiableJpeg(75)
    assert module.state_dict() == {}
    assert "quality=75" in repr(module)
    rgb = to_tensor(smooth_image(4, height=16, width=16))
    assert module(rgb).dtype == torch.float64  # float32 buffers, float64 input
    assert module(rgb.float()).dtype == torch.float32
    np.testing.assert_allclose(module(rgb).numpy(), module(rgb.float()).numpy(), atol=1e-4)


@pytest.mark.parametrize("quality", [0, 101, -5, 50.5, 90.0, True, "90", None])
def test_invalid_quality_is_a_param_error(quality):
    with pytest.raises(ParamError) as caught:
        DifferentiableJpeg(quality)
    assert caught.value.key == "jpeg_quality"


def test_integer_like_quality_is_accepted():
    assert DifferentiableJpeg(np.int64(90)).quality == 90
    assert DifferentiableJpeg().quality == 90


@pytest.mark.parametrize(
    "rgb",
    [
        torch.zeros(3, 8, 8),
        torch.zeros(1, 4, 8, 8),
        torch.zeros(1, 3, 8, 8, dtype=torch.uint8),
        torch.zeros(1, 3, 0, 8),
    ],
)
def test_bad_input_is_an_input_error(rgb):
    with pytest.raises(InputError):
        DifferentiableJpeg(90)(rgb)
