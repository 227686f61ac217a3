"""Export a trained forward model to ONNX, and check the export against torch.

A RAW-to-sRGB method that can be exported implements ``export_module()``,
returning an :class:`ExportableModel`: the ``torch.nn.Module`` and what its input
is (channels, and the output's size over the input's: 2 for packed RAW in,
full-size sRGB out). :func:`export_onnx` writes the module with dynamic batch,
height and width (ONNX opset 17, the TorchScript-based exporter, which needs
no extra package) and, when onnxruntime is installed, runs the file on a random
input and returns the largest difference from torch's output.

Phones and edge runtimes (ONNX Runtime Mobile, NNAPI, Core ML converters) are
where models like the lightweight ISPs run; the exported graph takes NCHW
float32 in the method's input layout (packed R, Gr, Gb, B planes, normalised:
black 0, white 1) and returns NCHW sRGB, unclipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from attrs import frozen

from ispengine.core.errors import InputError
from ispengine.io.atomic import atomic_output

OPSET = 17


@frozen
class ExportableModel:
    """A torch module and its input: ``channels`` in, output ``scale``× the input size,
    ``input_name`` / ``output_name`` for the ONNX graph."""

    module: Any
    channels: int
    scale: int = 1
    input_name: str = "input"
    output_name: str = "srgb"


def export_onnx(
    model: ExportableModel, path: str | Path, *, height: int = 64, width: int = 64, seed: int = 0
) -> float | None:
    """Write ``model`` to ``path`` (ONNX, dynamic N/H/W; traced at ``height`` × ``width``
    input pixels) atomically; returns the largest |ONNX − torch| on a random input of
    that size, or None when onnxruntime is not installed."""
    import torch

    module = model.module.eval().cpu()
    rng = np.random.default_rng(seed)
    example = rng.random((1, model.channels, height, width), dtype=np.float32)
    tensor = torch.from_numpy(example)
    axes = {0: "batch", 2: "height", 3: "width"}
    path = Path(path)
    with atomic_output(path) as temporary, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module,
            (tensor,),
            str(temporary),
            dynamo=False,
            opset_version=OPSET,
            input_names=[model.input_name],
            output_names=[model.output_name],
            dynamic_axes={model.input_name: axes, model.output_name: axes},
        )
    return onnx_difference(model, path, example)


def onnx_difference(model: ExportableModel, path: str | Path, example: np.ndarray) -> float | None:
    """Largest |ONNX Runtime − torch| of ``model`` on ``example`` (None without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    import torch

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise InputError(f"{path}: ONNX Runtime cannot load the export ({error})") from None
    (exported,) = session.run(None, {model.input_name: example})
    with torch.no_grad():
        expected = model.module(torch.from_numpy(example)).numpy()
    if exported.shape != expected.shape:
        raise InputError(f"{path}: ONNX output {exported.shape}, torch {expected.shape}")
    return float(np.max(np.abs(exported - expected)))
