"""ONNX export of trained forward ISPs: the file ONNX Runtime runs matches torch."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnxruntime = pytest.importorskip("onnxruntime")

from ispengine.cli import main  # noqa: E402
from ispengine.learning.onnx_export import ExportableModel, export_onnx  # noqa: E402
from ispengine.learning.raw_to_srgb import raw_to_srgb_class  # noqa: E402


@pytest.mark.parametrize("name", ["efficient_isp", "robust_isp"])
def test_export_matches_torch_at_other_sizes(tmp_path, name):
    method = raw_to_srgb_class(name)()
    method._module = method.build(seed=11)
    saved = method.save(tmp_path / name)
    out = tmp_path / f"{name}.onnx"
    assert main(["export", str(saved), str(out), "--height", "16", "--width", "24"]) == 0
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    packed = np.random.default_rng(2).random((2, 4, 27, 40), dtype=np.float32)  # not traced
    (exported,) = session.run(None, {"packed": packed})
    with torch.no_grad():
        expected = method.module(torch.from_numpy(packed)).numpy()
    assert exported.shape == (2, 3, 54, 80)
    np.testing.assert_allclose(exported, expected, atol=1e-5, rtol=0)


def test_export_reports_the_difference(tmp_path):
    model = ExportableModel(torch.nn.Conv2d(3, 3, 1), channels=3)
    difference = export_onnx(model, tmp_path / "conv.onnx", height=8, width=8)
    assert difference is not None and difference < 1e-5


def test_export_refuses_overwrite_fixed_pipelines_and_bad_names(tmp_path, capsys):
    method = raw_to_srgb_class("robust_isp")()
    saved = method.save(tmp_path / "robust")
    out = tmp_path / "robust.onnx"
    out.write_bytes(b"keep")
    assert main(["export", str(saved), str(out)]) == 2
    assert out.read_bytes() == b"keep" and "--overwrite" in capsys.readouterr().err
    assert main(["export", str(saved), str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"keep"
    fixed = raw_to_srgb_class("pipeline")().save(tmp_path / "fixed")
    assert main(["export", str(fixed), str(tmp_path / "fixed.onnx")]) == 2
    assert "no network to export" in capsys.readouterr().err
    assert main(["export", str(saved), str(tmp_path / "model.bin")]) == 2
    assert main(["export", str(saved), str(tmp_path / "x.onnx"), "--height", "0"]) == 2
