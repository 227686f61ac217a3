"""Feature extractors: torchvision's architectures and names, loading from local files,
freezing, and one clear line for a missing weights file."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.cli import main  # noqa: E402
from ispengine.core.errors import InputError  # noqa: E402
from ispengine.learning.feature_extractors import (  # noqa: E402
    alexnet_features,
    load_extractor,
    vgg19_features,
    vit_features,
)
from ispengine.synthcam.generate import generate_dataset  # noqa: E402

SMALL_VIT = {"width": 32, "depth": 2, "heads": 2, "image_size": 32, "patch": 8}


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_published_sizes_match_torchvision():
    """Parameter counts of torchvision's vgg19().features, alexnet().features and
    vit_b_16() without its classification head."""
    vgg = vgg19_features()
    assert _count(vgg) == 20_024_384
    state = vgg.state_dict()
    assert state["features.0.weight"].shape == (64, 3, 3, 3)
    assert state["features.34.weight"].shape == (512, 512, 3, 3)  # conv5_4, before relu5_4
    alexnet = alexnet_features()
    assert _count(alexnet) == 2_469_696
    assert alexnet.state_dict()["features.10.weight"].shape == (256, 256, 3, 3)
    vit = vit_features()
    assert _count(vit) == 86_567_656 - (768 * 1000 + 1000)
    names = vit.state_dict()
    for name in (
        "conv_proj.weight",
        "class_token",
        "encoder.pos_embedding",
        "encoder.layers.encoder_layer_11.self_attention.in_proj_weight",
        "encoder.layers.encoder_layer_0.mlp.3.weight",
        "encoder.ln.bias",
    ):
        assert name in names


def test_outputs_and_frozen():
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    vgg = load_extractor("vgg19", None, width=4)
    assert vgg(x).shape == (2, 32, 4, 4)  # relu5_4 after four poolings
    relus = load_extractor("alexnet", None, width=8)(x)
    assert len(relus) == 5 and relus[0].shape[1] == 8
    tokens = load_extractor("vit_b_16", None, **SMALL_VIT)(x)  # resized to 32
    assert tokens.shape == (2, 1 + 16, 32)
    tokens.sum().backward()
    assert x.grad is not None  # gradients reach the input
    assert all(not p.requires_grad for p in vgg.parameters())


def test_random_extractors_are_seeded():
    a = load_extractor("alexnet", None, seed=3, width=8).state_dict()
    b = load_extractor("alexnet", None, seed=3, width=8).state_dict()
    c = load_extractor("alexnet", None, seed=4, width=8).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_loads_torchvision_layout_files_ignoring_the_classifier(tmp_path, suffix):
    source = load_extractor("vit_b_16", None, seed=7, **SMALL_VIT)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["heads.head.weight"] = torch.zeros(10, 32)  # the classifier: ignored
    path = tmp_path / f"vit{suffix}"
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    loaded = load_extractor("vit_b_16", path, seed=0, **SMALL_VIT)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_missing_and_wrong_files_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="no such vgg19 weights file.*vgg19-dcbe5e5e.pth"):
        load_extractor("vgg19", tmp_path / "vgg19.pth")
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "odd.pth")
    with pytest.raises(InputError, match="not alexnet weights"):
        load_extractor("alexnet", tmp_path / "odd.pth", width=8)
    small = load_extractor("vgg19", None, width=4).state_dict()
    torch.save(small, tmp_path / "small.pth")
    with pytest.raises(InputError, match="has shape"):
        load_extractor("vgg19", tmp_path / "small.pth")  # published size expected
    with pytest.raises(InputError, match="unknown feature extractor"):
        load_extractor("resnet", None)


def test_missing_extractor_file_is_exit_2_from_the_cli(tmp_path, capsys):
    data = tmp_path / "data"
    generate_dataset(data, n=4, size=(32, 48), seed=0, progress=False)
    missing = tmp_path / "weights" / "vgg19-dcbe5e5e.pth"
    code = main(
        [
            "train",
            "--method",
            "efficient_isp",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "model"),
            "--steps",
            "1",
            "--quiet",
            "--set",
            f"vgg_weights={missing}",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(missing) in err
    assert not (tmp_path / "model.json").exists()
    code = main(["train", "--method", "efficient_isp", "--data", str(data), "--out",
                 str(tmp_path / "model"), "--steps", "1", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "vgg_weights" in err and len(err.splitlines()) == 1
    np.testing.assert_equal(sorted(p.name for p in tmp_path.iterdir()), ["data"])
