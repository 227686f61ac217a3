"""``ispengine ssdnet import`` and ``ispengine invisp import``: the authors' checkpoints
as saved models that the methods, the stage and ``unprocess`` use; bad files change nothing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ispengine.cli import main  # noqa: E402
from ispengine.learning.srgb_to_raw import load_method  # noqa: E402
from plugins_builtin.invisp.method import InvertibleISP  # noqa: E402
from plugins_builtin.invisp.networks import CONFIGS as INVISP_CONFIGS  # noqa: E402
from plugins_builtin.invisp.networks import build as build_invisp  # noqa: E402
from plugins_builtin.ssdnet.method import SSDNetMethod  # noqa: E402
from plugins_builtin.ssdnet.networks import CONFIGS as SSDNET_CONFIGS  # noqa: E402
from plugins_builtin.ssdnet.networks import build as build_ssdnet  # noqa: E402


def test_ssdnet_import_of_a_basicsr_checkpoint(tmp_path, capsys):
    reference = build_ssdnet(SSDNET_CONFIGS["small"], seed=3)
    torch.save({"params": reference.state_dict()}, tmp_path / "net_g_latest.pth")
    out = tmp_path / "ssdnet"
    argv = ["ssdnet", "import", str(out), str(tmp_path / "net_g_latest.pth"), "--config", "small"]
    assert main(argv) == 0
    method = load_method(out.with_suffix(".json"))
    assert isinstance(method, SSDNetMethod) and method.config["soft_supervision"]
    for name, tensor in reference.state_dict().items():
        assert torch.equal(method.network().state_dict()[name], tensor)
    assert main(argv) == 2  # the model exists: kept
    assert "exists" in capsys.readouterr().err
    plain = tmp_path / "plain"
    argv = ["ssdnet", "import", str(plain), str(tmp_path / "net_g_latest.pth"), "--config",
            "small", "--without-error-branch"]  # fmt: skip
    assert main(argv) == 0
    assert not load_method(plain.with_suffix(".json")).config["soft_supervision"]


def test_ssdnet_import_of_the_wrong_size_writes_nothing(tmp_path, capsys):
    torch.save(build_ssdnet(SSDNET_CONFIGS["small"]).state_dict(), tmp_path / "small.pth")
    out = tmp_path / "model"
    assert main(["ssdnet", "import", str(out), str(tmp_path / "small.pth")]) == 2
    message = capsys.readouterr().err.strip()
    assert "small.pth" in message and len(message.splitlines()) == 1
    assert not out.with_suffix(".json").exists()


def test_invisp_import_reads_the_size_and_serves_unprocess(tmp_path, capsys):
    reference = build_invisp(INVISP_CONFIGS["published"], seed=1)
    state = {f"module.{k}": v for k, v in reference.state_dict().items()}
    torch.save(state, tmp_path / "invisp.pth")
    out = tmp_path / "invisp"
    assert main(["invisp", "import", str(out), str(tmp_path / "invisp.pth")]) == 0
    method = load_method(out.with_suffix(".json"))
    assert isinstance(method, InvertibleISP) and method.config["config"] == "published"
    image = tmp_path / "photo.npy"
    np.save(image, np.random.default_rng(0).uniform(0, 1, (8, 12, 3)).astype(np.float32))
    raw_out = tmp_path / "photo_raw.npy"
    argv = ["unprocess", "--method", "invisp", "--weights", str(out.with_suffix(".json")),
            str(image), str(raw_out)]  # fmt: skip
    # the target camera's white balance is needed: without --like it is a one-line error
    assert main(argv) == 2
    assert "white balance" in capsys.readouterr().err
    assert not raw_out.exists()


def test_invisp_import_of_an_unknown_size_is_refused(tmp_path, capsys):
    from plugins_builtin.invisp.networks import InvISPConfig

    odd = build_invisp(InvISPConfig(blocks=2, growth=4)).state_dict()
    torch.save(odd, tmp_path / "odd.pth")
    assert main(["invisp", "import", str(tmp_path / "m"), str(tmp_path / "odd.pth")]) == 2
    assert "matches neither" in capsys.readouterr().err
