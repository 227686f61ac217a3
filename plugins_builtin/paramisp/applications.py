"""Applications of a forward and an inverse ISP pair: HDR from one sRGB image, camera transfer.

Both work with any models: the inverse is an sRGB-to-RAW method
(:class:`~ispengine.learning.srgb_to_raw.SrgbToRawMethod`, a saved file or a
method that needs no fitting, e.g. ``upi``), the forward a RAW-to-sRGB method
(:class:`~ispengine.learning.raw_to_srgb.RawToSrgbMethod`, a saved file) or a
pipeline spec run on the RAW (:class:`ForwardISP`).

**HDR from one sRGB image** (:func:`hdr_from_srgb`). The inverse gives the
normalised RAW ``x`` (0 black, 1 white) of the image; each digital gain ``g_k``
makes a virtual exposure ``x_k = g_k · x``, the forward renders it,
``y_k = F(x_k)`` clipped to [0, 1], and exposure fusion merges them::

    Y = Σ_k W_k · y_k  (per pixel, blended over a Laplacian pyramid),
    W_k ∝ C_k^ωc · S_k^ωs · E_k^ωe

with ``C`` the absolute Laplacian of the grey image (contrast), ``S`` the
standard deviation of R, G, B (saturation) and ``E = Π_c exp(−(y_c − 0.5)² /
(2 · 0.2²))`` (well-exposedness), normalised over ``k`` (Mertens, Kautz & Van
Reeth 2007, §3.1–3.2). The gains are the paper's 0.1, 1.4, 2.7 and 4.0. A gain below
1 darkens the image and brings back the highlights the camera's tone curve
compressed, gains above 1 brighten the shadows. Clipping: the gained RAW is
not clipped at the white level for a pipeline forward (it takes any value,
and the rendering is clipped to [0, 1] anyway, so a bright exposure's
highlights saturate there, as they would in the camera's output); a learned
forward (``RawToSrgbMethod.learned``) was trained on RAWs in [0, 1], so its
inputs are clipped to [0, 1] first, as a sensor saturates (``clip`` overrides
either choice). The fusion is OpenCV's ``MergeMertens`` with all three
exponents 1, as in the paper's results (OpenCV's default exposure exponent
is 0).

**Camera-to-camera transfer** (:func:`transfer`). The inverse of a model for
camera A gives the RAW, the forward of a model for camera B renders it. The
RAW's values stay A's camera response; what changes hands is exactly:

* CFA pattern: B's. The inverse mosaics straight into B's pattern (its
  metadata is A's with B's ``cfa_pattern``), so no re-sampling is needed;
* black and white levels: B's (the normalised values are kept, so a value
  that was A's white is B's white);
* colour matrices (``camera_to_srgb``, ``xyz_to_camera``): B's;
* white balance: A's as-shot gains by default (they belong to this scene's
  illuminant; B's reference RAW was shot under another), B's with
  ``white_balance="b"``;
* capture parameters: the image's own, unchanged.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned
Forward and Inverse ISPs using Camera Parameters", CVPR 2024, §5 ("HDR
Reconstruction": sRGB to RAW, gains 0.1, 1.4, 2.7, 4.0, forward ISP, exposure
fusion) and supplementary §S2.2 (camera-to-camera transfer); T. Mertens,
J. Kautz, F. Van Reeth, "Exposure Fusion", Pacific Graphics 2007, §3 (quality
measures and pyramid blending).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from attrs import field, frozen

from ispengine.core.errors import InputError, ParamError
from ispengine.io.raw.image import CAMERA_METADATA_KEYS, CaptureParams, RawImage

#: The paper's digital gains for HDR.
DEFAULT_GAINS = (0.1, 1.4, 2.7, 4.0)
GAIN_RANGE = (1e-3, 64.0)
#: Mertens et al.'s exponents of contrast, saturation and well-exposedness.
FUSION_WEIGHTS = (1.0, 1.0, 1.0)
#: The metadata keys that describe the camera (the rest of a RAW's metadata is the capture).
CAMERA_KEYS = CAMERA_METADATA_KEYS
#: Without a reference RAW: a 16-bit RGGB sensor with levels 0 and 65535 (as ``unprocess``).
DEFAULT_CAMERA = {"cfa_pattern": "rggb", "black_level": 0.0, "white_level": 65535.0}
WHITE_BALANCES = ("a", "b")


def _method_suffixes() -> tuple[str, ...]:
    from ispengine.learning.weights import WEIGHT_SUFFIXES

    return (".json", *WEIGHT_SUFFIXES)


def _saved_file(source: str | Path, option: str) -> Path:
    path = Path(source)
    settings = path if path.suffix.lower() == ".json" else path.with_suffix(".json")
    if not settings.is_file():
        raise InputError(f"{option} {source}: no such saved method ({settings.name} not found)")
    return path


def load_inverse(source: str | Path, option: str = "--inverse") -> Any:
    """The sRGB-to-RAW method of a saved file (``.json`` or weights), or of a registered
    name whose method needs no fitting (``upi``); one-line :class:`InputError` otherwise."""
    from ispengine.core.plugins import get_registry
    from ispengine.learning.srgb_to_raw import load_method, method_class

    text = str(source)
    path = Path(text)
    if path.suffix.lower() in _method_suffixes():
        return load_method(_saved_file(path, option))
    if path.suffix.lower() == ".toml":
        raise InputError(
            f"{option} {source}: a pipeline spec; give a saved sRGB-to-RAW method or a method name"
        )
    names = get_registry().names("srgb_to_raw")
    if text in names:
        cls = method_class(text)
        if cls.learned:
            raise InputError(
                f"{option} {source}: method '{text}' is learned; give the file it was saved "
                "to (ispengine train)"
            )
        return cls()
    fixed = [name for name in names if not method_class(name).learned]
    raise InputError(
        f"{option} {source}: no such saved sRGB-to-RAW method, nor a method that needs no "
        f"fitting ({', '.join(fixed) or 'none registered'})"
    )


@frozen(eq=False)
class ForwardISP:
    """A RAW-to-sRGB renderer: a saved :class:`RawToSrgbMethod` or a pipeline spec.

    Attributes:
        name: the method's or pipeline's name.
        render_raw: the renderer of a :class:`RawImage` (normalised or raw numbers).
        unit_range: whether it needs RAW values in [0, 1] (learned methods).
    """

    name: str
    render_raw: Callable[[RawImage], np.ndarray]
    unit_range: bool = False

    def __call__(self, raw: RawImage) -> np.ndarray:
        """The sRGB rendering of ``raw``, float32 ``(H, W, 3)`` clipped to [0, 1]."""
        image = np.asarray(self.render_raw(raw), dtype=np.float32)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise InputError(f"forward ISP {self.name}: expected an RGB image, got {image.shape}")
        if not np.all(np.isfinite(image)):
            raise InputError(f"forward ISP {self.name}: its output contains NaN or Inf values")
        return np.clip(image, 0.0, 1.0)


def _pipeline_renderer(pipeline: Any) -> Callable[[RawImage], np.ndarray]:
    from ispengine.io.raw.levels import denormalize

    def render(raw: RawImage) -> np.ndarray:
        numbers = raw.evolve(mosaic=denormalize(raw).astype(np.float32), normalized=False)
        return pipeline(numbers)

    return render


def load_forward(source: str | Path, option: str = "--forward") -> ForwardISP:
    """A saved RAW-to-sRGB method (``.json`` or weights file) or a pipeline spec (a file
    or a shipped name such as ``camera_default``) from RAW mosaic to sRGB."""
    from ispengine.core.pipeline import Pipeline
    from ispengine.learning.raw_to_srgb import load_raw_to_srgb
    from ispengine.specs import resolve_spec

    path = Path(str(source))
    if path.suffix.lower() in _method_suffixes():
        method = load_raw_to_srgb(_saved_file(path, option))
        return ForwardISP(
            method.name, lambda raw: method.render(raw), unit_range=bool(method.learned)
        )
    spec = resolve_spec(str(source))
    if not spec.is_file():
        raise InputError(f"{option} {source}: no such pipeline spec or saved RAW-to-sRGB method")
    pipeline = Pipeline.from_toml(spec)
    if pipeline.input != "raw_mosaic" or pipeline.output != "srgb":
        raise InputError(
            f"{option} {source}: pipeline '{pipeline.name}' goes from {pipeline.input} to "
            f"{pipeline.output}; a forward ISP goes from raw_mosaic to srgb"
        )
    return ForwardISP(pipeline.name, _pipeline_renderer(pipeline))


def camera_metadata(like: str | Path | RawImage | Mapping[str, Any] | None) -> dict[str, Any]:
    """The camera keys (:data:`CAMERA_KEYS`) of a RAW file, a :class:`RawImage` or a
    metadata mapping (a SynthCam manifest entry's ``raw`` table); :data:`DEFAULT_CAMERA`
    for ``None``."""
    if like is None:
        return dict(DEFAULT_CAMERA)
    if isinstance(like, (str, Path)):
        from ispengine.io.raw.reader import read_raw

        like = read_raw(like)
    values = like.metadata() if isinstance(like, RawImage) else dict(like)
    return {key: values[key] for key in CAMERA_KEYS if values.get(key) is not None}


def capture_of(like: str | Path | RawImage | None) -> CaptureParams:
    """The capture parameters of a reference RAW (empty without one)."""
    if like is None:
        return CaptureParams()
    if isinstance(like, RawImage):
        return like.capture
    from ispengine.io.raw.reader import read_raw

    return read_raw(like).capture


def parse_capture(text: str) -> CaptureParams:
    """``iso=400,exposure_time=0.01,f_number=2.8,focal_length=50`` as :class:`CaptureParams`."""
    values: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in CaptureParams.OPTICAL:
            raise ParamError(
                key="capture",
                message=f"expected KEY=VALUE with KEY one of {', '.join(CaptureParams.OPTICAL)}, "
                f"got {item!r}",
            )
        try:
            values[key] = float(value)
        except ValueError:
            raise ParamError(key="capture", message=f"{key}: not a number: {value!r}") from None
    try:
        return CaptureParams(**values)
    except (TypeError, ValueError) as error:
        raise ParamError(key="capture", message=str(error)) from None


def check_gains(gains: Sequence[float]) -> tuple[float, ...]:
    """At least two finite gains in :data:`GAIN_RANGE`."""
    try:
        values = tuple(float(g) for g in gains)
    except (TypeError, ValueError):
        raise ParamError(key="gains", message=f"expected numbers, got {gains!r}") from None
    low, high = GAIN_RANGE
    if len(values) < 2 or not all(math.isfinite(g) and low <= g <= high for g in values):
        raise ParamError(
            key="gains",
            message=f"expected at least two gains in [{low:g}, {high:g}], got {list(values)}",
        )
    return values


def exposure_fusion(
    images: Sequence[np.ndarray], weights: Sequence[float] = FUSION_WEIGHTS
) -> np.ndarray:
    """Mertens et al.'s exposure fusion of sRGB images in [0, 1] (all ``(H, W, 3)``),
    float32 ``(H, W, 3)`` in [0, 1]; ``weights`` are the contrast, saturation and
    well-exposedness exponents."""
    import cv2

    if len(images) < 2:
        raise ParamError(key="gains", message="exposure fusion needs at least two images")
    contrast, saturation, exposure = (float(w) for w in weights)
    merge = cv2.createMergeMertens(contrast, saturation, exposure)
    # OpenCV scales float inputs as 8-bit values and works in BGR order.
    stack = [
        np.ascontiguousarray(np.clip(image, 0.0, 1.0)[..., ::-1] * 255.0, dtype=np.float32)
        for image in images
    ]
    fused = merge.process(stack)[..., ::-1]
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


def _even(srgb: np.ndarray) -> np.ndarray:
    """``srgb`` with its last row and column repeated where H or W is odd (a Bayer
    mosaic needs even sizes); the results are cropped back (:func:`_crop`)."""
    image = np.asarray(srgb)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise InputError(f"sRGB image: expected shape (H, W, 3), got {image.shape}")
    pad = ((0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0))
    return np.pad(image, pad, mode="edge") if any(p[1] for p in pad) else image


def _crop(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    return image[: np.shape(like)[0], : np.shape(like)[1]]


def invert(
    srgb: np.ndarray,
    inverse: Any,
    metadata: Mapping[str, Any],
    capture: CaptureParams | None = None,
    seed: int = 0,
) -> RawImage:
    """The normalised RAW of ``srgb`` (odd sizes padded to even by repeating the last row
    or column) by the sRGB-to-RAW method ``inverse``."""
    return inverse.convert(_even(srgb), capture=capture, metadata=dict(metadata), seed=seed).raw


def _gained(raw: RawImage, gain: float, clip: bool) -> RawImage:
    mosaic = np.asarray(raw.mosaic, dtype=np.float32) * np.float32(gain)
    return raw.evolve(mosaic=np.clip(mosaic, 0.0, 1.0) if clip else mosaic)


@frozen(eq=False)
class HdrResult:
    """What :func:`hdr_from_srgb` made.

    Attributes:
        image: the fused sRGB image, float32 ``(H, W, 3)`` in [0, 1].
        exposures: the forward's rendering at each gain, in order.
        gains: the digital gains.
        raw: the normalised RAW from the inverse (gain 1).
    """

    image: np.ndarray
    exposures: tuple[np.ndarray, ...]
    gains: tuple[float, ...]
    raw: RawImage = field(repr=False)


def hdr_from_srgb(
    srgb: np.ndarray,
    inverse: Any,
    forward: ForwardISP,
    *,
    metadata: Mapping[str, Any] | None = None,
    capture: CaptureParams | None = None,
    gains: Sequence[float] = DEFAULT_GAINS,
    clip: bool | None = None,
    seed: int = 0,
    weights: Sequence[float] = FUSION_WEIGHTS,
) -> HdrResult:
    """HDR-looking sRGB from one sRGB image (see the module docstring).

    Args:
        srgb: ``(H, W, 3)`` in [0, 1] (odd sizes are padded, the result cropped back).
        inverse: an sRGB-to-RAW method (:func:`load_inverse`).
        forward: a :class:`ForwardISP` (:func:`load_forward`).
        metadata: the camera for the inverse (:func:`camera_metadata`).
        capture: the capture parameters of the image (ISO, exposure, f-number, focal length).
        gains: at least two digital gains in [0.001, 64] (default: the paper's four).
        clip: clip each gained RAW to [0, 1]; default: only for a forward that needs it.
        seed: the inverse's seed (one-to-many methods).
        weights: exposure fusion's contrast, saturation and well-exposedness exponents.
    """
    gains = check_gains(gains)
    clip = forward.unit_range if clip is None else bool(clip)
    raw = invert(srgb, inverse, metadata or DEFAULT_CAMERA, capture, seed)
    exposures = tuple(_crop(forward(_gained(raw, gain, clip)), srgb) for gain in gains)
    return HdrResult(exposure_fusion(exposures, weights), exposures, gains, raw)


def as_camera_b(raw: RawImage, metadata_b: Mapping[str, Any], white_balance: str = "a") -> RawImage:
    """``raw`` relabelled as camera B's: B's pattern (the mosaic must already be in it),
    levels and colour matrices (A's matrix stays when B's metadata has none); white
    balance ``"a"`` (kept) or ``"b"`` (B's, when B's metadata has gains)."""
    from ispengine.learning.srgb_to_raw import TargetCamera

    if white_balance not in WHITE_BALANCES:
        raise ParamError(
            key="white_balance", message=f"expected one of a, b, got {white_balance!r}"
        )
    target = TargetCamera.from_metadata(metadata_b)
    if raw.cfa_pattern != target.cfa_pattern:
        raise InputError(
            f"transfer: the RAW's pattern {raw.cfa_pattern} is not camera B's {target.cfa_pattern}"
        )
    gains = raw.wb_gains
    if white_balance == "b" and target.wb_gains is not None:
        gains = target.wb_gains
    matrix = target.camera_to_srgb
    if matrix is None and target.xyz_to_camera is None:
        matrix = raw.camera_to_srgb
    return RawImage(
        np.asarray(raw.mosaic),
        cfa_pattern=target.cfa_pattern,
        black_level=target.black_level,
        white_level=target.white_level,
        wb_gains=gains,
        xyz_to_camera=target.xyz_to_camera,
        camera_to_srgb_matrix=matrix,
        capture=raw.capture,
        normalized=True,
    )


@frozen(eq=False)
class TransferResult:
    """What :func:`transfer` made: the sRGB as camera B renders it, A's RAW (in B's
    pattern) and the RAW as B's."""

    image: np.ndarray
    raw_a: RawImage = field(repr=False)
    raw_b: RawImage = field(repr=False)


def transfer(
    srgb: np.ndarray,
    inverse_a: Any,
    forward_b: ForwardISP,
    *,
    metadata_a: Mapping[str, Any],
    metadata_b: Mapping[str, Any],
    capture: CaptureParams | None = None,
    white_balance: str = "a",
    clip: bool | None = None,
    seed: int = 0,
) -> TransferResult:
    """Camera A's sRGB image as camera B would render it (see the module docstring).

    Args:
        srgb: ``(H, W, 3)`` in [0, 1] (odd sizes are padded, the result cropped back).
        inverse_a: an sRGB-to-RAW method for camera A (:func:`load_inverse`).
        forward_b: a :class:`ForwardISP` for camera B (:func:`load_forward`).
        metadata_a, metadata_b: the cameras (:func:`camera_metadata`).
        capture: the capture parameters of the image.
        white_balance: ``"a"`` keeps the image's white balance, ``"b"`` takes B's.
        clip: clip the RAW to [0, 1] first; default: only for a forward that needs it.
        seed: the inverse's seed.
    """
    if white_balance not in WHITE_BALANCES:
        raise ParamError(
            key="white_balance", message=f"expected one of a, b, got {white_balance!r}"
        )
    pattern_b = camera_metadata(metadata_b).get("cfa_pattern", "rggb")
    raw_a = invert(srgb, inverse_a, {**metadata_a, "cfa_pattern": pattern_b}, capture, seed)
    raw_b = as_camera_b(raw_a, metadata_b, white_balance)
    clip = forward_b.unit_range if clip is None else bool(clip)
    image = _crop(forward_b(_gained(raw_b, 1.0, clip)), srgb)
    return TransferResult(image, raw_a, raw_b)
