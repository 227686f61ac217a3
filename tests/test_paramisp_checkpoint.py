"""Loading the authors' ParamISP state dicts (their key names and shapes)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = pytest.importorskip("torch.nn.functional")

from ispengine.core.errors import InputError  # noqa: E402
from ispengine.io.raw.image import CaptureParams  # noqa: E402
from plugins_builtin.paramisp.camera_tensors import CameraTensors  # noqa: E402
from plugins_builtin.paramisp.checkpoint import load_official_state_dict  # noqa: E402
from plugins_builtin.paramisp.encoding import equalise  # noqa: E402
from plugins_builtin.paramisp.networks import ParamISPNet  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def official_layout() -> dict[str, tuple[int, ...]]:
    """Names and shapes of one direction as the authors' code saves it (without the
    ``hyper*.target`` duplicates and the ``demosaic`` buffers)."""
    layout: dict[str, tuple[int, ...]] = {}

    def add(name: str, weight: tuple[int, ...]) -> None:
        layout[f"{name}.weight"] = weight
        layout[f"{name}.bias"] = (weight[1] if name.startswith("localnet.conv_up") else weight[0],)

    for i, n_in in enumerate((96, 64, 64)):
        add(f"tonenet.convs.{i}", (64, n_in, 3, 3))
    for i in range(2):
        add(f"tonenet.fcs.{i}", (64, 64))
    add("tonenet.fc_index", (64, 4))
    for i in range(4):
        add(f"tonenet.fc_last.{i}", (39, 64))
    add("localnet.conv_head", (64, 96, 3, 3))
    for i in range(2):
        add(f"localnet.conv_down.{i}", (64, 64, 2, 2))
    for i in range(2):
        add(f"localnet.conv_up.{i}", (64, 64, 2, 2))
    add("localnet.conv_tail", (3, 64, 3, 3))
    for i in range(10):
        block = f"localnet.resblks.{i}"
        add(f"{block}.conv1", (32, 64, 3, 3))
        add(f"{block}.conv2", (64, 32, 3, 3))
        add(f"{block}.chattn.conv1", (32, 64, 1, 1))
        add(f"{block}.chattn.conv2", (64, 32, 1, 1))
        add(f"{block}.spattn.conv", (1, 2, 7, 7))
    add("embed_id", (64, 16))
    add("embed_color", (64, 24))
    for name in ("focallen", "aperture", "expstime", "senstvty"):
        add(f"embed_{name}", (64, 15))
    for i in (1, 3, 5):
        add(f"embednet.{i}", (64, 64))
    add("hypertonenet.fc_embed", (64, 64))
    add("hyperlocalnet.fc_head", (64, 64))
    return layout


def official_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        k: 0.05 * torch.randn(shape, generator=generator) for k, shape in official_layout().items()
    }


def lightning(tensors: dict[str, torch.Tensor], prefix: str = "") -> dict:
    """Wrapped as their Lightning checkpoints are, with the extras they hold."""
    state = {prefix + k: v for k, v in tensors.items()}
    for k, v in tensors.items():
        for theirs in ("tonenet.", "localnet."):
            if k.startswith(theirs):
                state[f"{prefix}hyper{k}".replace("hyper" + theirs, f"hyper{theirs}target.")] = v
    state[prefix + "demosaic.kernels"] = torch.rand(4, 5, 5)
    return {"epoch": 7, "global_step": 1000, "state_dict": state}


# The mapping, written out independently of the loader.
def our_name(key: str) -> str:
    for theirs, ours in (
        ("hypertonenet.fc_embed.", "tonenet.fc_embed."),
        ("hyperlocalnet.fc_head.", "localnet.fc_head."),
        ("embed", "paramnet.embed"),
    ):
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return key


def batch():
    captures = [
        CaptureParams(iso=400, exposure_time=1 / 125, f_number=5.6, focal_length=24.0),
        CaptureParams(iso=100, exposure_time=1 / 30, f_number=2.0, focal_length=85.0),
    ]
    wb = [[2.1, 1.0, 1.6], [1.8, 1.0, 1.9]]
    ccm = [[[1.7, -0.5, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.6, 1.6]]] * 2
    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(5))
    return x, CameraTensors.from_values(captures, wb, ccm)


@pytest.fixture(scope="module")
def loaded():
    torch.manual_seed(0)
    net = ParamISPNet("inverse", mask="code").eval()
    tensors = official_state_dict()
    load_official_state_dict(net, lightning(tensors))
    return net, tensors


def test_layout_matches_the_net():
    expected = {our_name(k): v for k, v in official_layout().items() if "embed_id" not in k}
    ours = {k: tuple(v.shape) for k, v in ParamISPNet("forward").state_dict().items()}
    assert ours == expected


def test_loaded_weights_are_used(loaded):
    net, tensors = loaded
    x, camera = batch()
    reference = ParamISPNet("inverse", mask="code").eval()
    reference.load_state_dict({our_name(k): v for k, v in tensors.items() if "embed_id" not in k})
    fresh = ParamISPNet("inverse", mask="code").eval()
    with torch.no_grad():
        y = net(x, camera)
        assert torch.equal(y, reference(x, camera))
        assert not torch.allclose(y, fresh(x, camera))


def test_paramnet_equals_a_direct_computation(loaded):
    net, t = loaded
    _, camera = batch()

    def lin(name, v):
        return F.linear(v, t[f"{name}.weight"], t[f"{name}.bias"])

    colour = torch.cat(
        [camera.wb, 1 / camera.wb, camera.ccm.flatten(1), torch.linalg.inv(camera.ccm).flatten(1)],
        dim=1,
    )
    h = lin("embed_color", colour)
    names = ("focal_length", "f_number", "exposure_time", "iso")
    for k, short in enumerate(("focallen", "aperture", "expstime", "senstvty")):
        h = h + lin(f"embed_{short}", equalise(camera.optical[:, k], names[k]))
    for i in (1, 3, 5):
        h = lin(f"embednet.{i}", F.elu(h))
    with torch.no_grad():
        assert torch.allclose(net.paramnet(camera), h, atol=1e-6)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loads_from_a_file(tmp_path, prefix):
    path = tmp_path / "paramisp.ckpt"
    tensors = official_state_dict(1)
    torch.save(lightning(tensors, prefix), path)
    net = load_official_state_dict(ParamISPNet("forward"), path)
    assert torch.equal(net.tonenet.fc_last[2].weight, tensors["tonenet.fc_last.2.weight"])
    assert torch.equal(net.localnet.fc_head.bias, tensors["hyperlocalnet.fc_head.bias"])
    assert torch.equal(net.paramnet.embednet[5].weight, tensors["embednet.5.weight"])


def test_plain_state_dict_without_ignored_extras():
    tensors = {k: v for k, v in official_state_dict().items() if "embed_id" not in k}
    net = load_official_state_dict(ParamISPNet("forward"), tensors)
    assert torch.equal(net.tonenet.fc_embed.weight, tensors["hypertonenet.fc_embed.weight"])


def test_missing_extra_and_wrong_shapes_are_named():
    tensors = official_state_dict()
    net = ParamISPNet("forward")
    missing = {k: v for k, v in tensors.items() if not k.startswith("localnet.resblks.3.")}
    with pytest.raises(InputError, match=r"missing tensors 'localnet\.resblks\.3\.conv1\.weight'"):
        load_official_state_dict(net, missing)
    with pytest.raises(InputError, match="unexpected tensors 'tonenet.extra.weight'"):
        load_official_state_dict(net, {**tensors, "tonenet.extra.weight": torch.zeros(1)})
    wrong = {**tensors, "embed_color.weight": torch.zeros(64, 20)}
    with pytest.raises(InputError, match=r"embed_color\.weight \(64, 20\) \(expected \(64, 24\)\)"):
        load_official_state_dict(net, wrong)
    with pytest.raises(InputError, match="wrong shapes"):
        load_official_state_dict(ParamISPNet("forward", "small"), tensors)
    with pytest.raises(InputError, match="unexpected tensors 'embed_color"):
        load_official_state_dict(ParamISPNet("forward", use_paramnet=False), tensors)


def test_other_checkpoints_are_refused(tmp_path):
    cycleisp = {"state_dict": {"module.head.0.weight": torch.zeros(8, 3, 3, 3)}}
    with pytest.raises(InputError, match="not a ParamISP checkpoint"):
        load_official_state_dict(ParamISPNet("forward"), cycleisp)
    with pytest.raises(InputError, match="no such checkpoint"):
        load_official_state_dict(ParamISPNet("forward"), tmp_path / "absent.ckpt")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="cannot read checkpoint"):
        load_official_state_dict(ParamISPNet("forward"), junk)


# A functional transcription of one direction, written from the authors' layer
# definitions and their official tensor names (the module under test is not used).
def _conv(t, name, v, pad=True, **kwargs):
    w = t[f"{name}.weight"]
    if pad and w.shape[-1] > 1:
        v = F.pad(v, (w.shape[-1] // 2,) * 4, mode="replicate")
    return F.conv2d(v, w, t[f"{name}.bias"], **kwargs)


def _lin(t, name, v):
    return F.linear(v, t[f"{name}.weight"], t[f"{name}.bias"])


def _spow(v, g):
    return v.sign() * (v.abs() + 1e-12).pow(g)


def reference_global(t, x, feats, z):
    g = feats
    for i in range(3):
        g = F.max_pool2d(F.elu(_conv(t, f"tonenet.convs.{i}", g, pad=False, stride=2)), 2)
    g = g.mean(dim=(-2, -1)) + F.elu(_lin(t, "hypertonenet.fc_embed", z))
    n, _, h, wd = x.shape
    y = x.flatten(-2).permute(2, 0, 1)  # (HW, N, 3)
    for s in range(4):
        w = g + F.elu(_lin(t, "tonenet.fc_index", F.one_hot(torch.tensor(s), 4).float()))
        for i in range(2):
            w = F.elu(_lin(t, f"tonenet.fcs.{i}", w))
        w = F.elu(_lin(t, f"tonenet.fc_last.{s}", w))
        wq, wg = w[:, :30].reshape(n, 10, 3), w[:, 30:].reshape(n, 3, 3)
        p = torch.cat([y, torch.ones_like(y[..., :1])], dim=-1)
        outer = p.unsqueeze(-1) * p.unsqueeze(-2)
        rows, cols = torch.triu_indices(4, 4)
        y = y + torch.matmul(outer[..., rows, cols].unsqueeze(-2), wq).squeeze(-2)
        gamma, t0, t1 = wg[:, 0].exp(), wg[:, 1].abs(), wg[:, 2].exp()
        s0 = _spow(t0, gamma)
        y = (_spow(t1 * y + t0, gamma) - s0) / (_spow(t1 + t0, gamma) - s0)
    return y.permute(1, 2, 0).reshape(n, 3, h, wd)


def reference_local(t, x, feats, z):
    def block(h, i):
        b = f"localnet.resblks.{i}"
        r = _conv(t, f"{b}.conv2", F.elu(_conv(t, f"{b}.conv1", h)))
        avg = _conv(
            t, f"{b}.chattn.conv2", F.elu(_conv(t, f"{b}.chattn.conv1", r.mean((2, 3), True)))
        )
        mx = _conv(
            t, f"{b}.chattn.conv2", F.elu(_conv(t, f"{b}.chattn.conv1", r.amax((2, 3), True)))
        )
        r = r * torch.sigmoid(avg + mx)
        stats = torch.cat([r.mean(1, keepdim=True), r.amax(1, keepdim=True)], dim=1)
        r = r * torch.sigmoid(_conv(t, f"{b}.spattn.conv", stats))
        return h + r

    h = _conv(t, "localnet.conv_head", feats) + _lin(t, "hyperlocalnet.fc_head", z)[..., None, None]
    skips = {}
    for s in range(2):
        for i in range(s * 2, s * 2 + 2):
            h = block(h, i)
        skips[s] = h
        h = _conv(t, f"localnet.conv_down.{s}", h, pad=False, stride=2)
    for i in range(4, 6):
        h = block(h, i)
    for s in (1, 0):
        w, b = t[f"localnet.conv_up.{s}.weight"], t[f"localnet.conv_up.{s}.bias"]
        h = skips[s] + F.conv_transpose2d(h, w, b, stride=2)
        for i in range((2 + s + 1) * 2, (2 + s + 2) * 2):
            h = block(h, i)
    return x + _conv(t, "localnet.conv_tail", h)


@pytest.mark.parametrize("direction", ["forward", "inverse"])
def test_equals_a_transcription_of_the_authors_forward_pass(direction):
    from plugins_builtin.paramisp.features import feature_map, overexposure_mask

    tensors = official_state_dict(2)
    net = load_official_state_dict(ParamISPNet(direction, mask="code").eval(), lightning(tensors))
    x = 1.1 * torch.rand(2, 3, 88, 88, generator=torch.Generator().manual_seed(9))
    _, camera = batch()
    with torch.no_grad():
        z = net.paramnet(camera)
        mask = 20 * (x - 0.95).clamp(min=0)
        assert torch.equal(mask, overexposure_mask(x, "code"))
        first, second = (
            (reference_local, reference_global)
            if direction == "forward"
            else (reference_global, reference_local)
        )
        y = first(tensors, x, feature_map(x, mask), z)
        y = second(tensors, y, feature_map(y, mask), z)
        assert torch.allclose(net(x, camera), y, atol=1e-5)


def test_decoder_block_order():
    net = ParamISPNet("forward", "small").eval()
    order = []
    for i, block in enumerate(net.localnet.resblks):
        block.register_forward_hook(lambda *_, i=i: order.append(i))
    camera = CameraTensors.from_values(
        [None], [[2.0, 1.0, 1.5]], [[[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]]
    )
    with torch.no_grad():
        net(torch.rand(1, 3, 8, 8), camera)
    assert order == [0, 1, 2, 3, 4, 5, 8, 9, 6, 7]


def test_import_command_saves_a_model_every_interface_loads(tmp_path, capsys):
    from ispengine.cli import main
    from ispengine.io.raw.image import RawImage
    from ispengine.learning.raw_to_srgb import load_raw_to_srgb
    from ispengine.learning.srgb_to_raw import load_method

    forward, inverse = official_state_dict(3), official_state_dict(4)
    torch.save(lightning(forward), tmp_path / "forward.ckpt")
    torch.save(lightning(inverse, "module."), tmp_path / "inverse.ckpt")
    out = tmp_path / "released"
    argv = ["paramisp", "import", str(out)]
    argv += [
        "--forward",
        str(tmp_path / "forward.ckpt"),
        "--inverse",
        str(tmp_path / "inverse.ckpt"),
    ]
    assert main(argv) == 0
    unprocess = load_method(out.with_suffix(".json"))
    render = load_raw_to_srgb(out.with_suffix(".json"))
    assert unprocess.config["config"] == "published" and unprocess.config["mask"] == "code"
    inverse_net = unprocess.model.network("inverse")
    assert torch.equal(
        inverse_net.state_dict()["tonenet.fc_index.weight"], inverse["tonenet.fc_index.weight"]
    )
    forward_net = render.model.network("forward")
    assert torch.equal(
        forward_net.state_dict()["localnet.conv_tail.bias"], forward["localnet.conv_tail.bias"]
    )
    # Both directions run on a small image with a photo's colour data and EXIF.
    rng = np.random.default_rng(0)
    metadata = {
        "wb_gains": [2.0, 1.0, 1.5],
        "camera_to_srgb": np.eye(3).tolist(),
        "cfa_pattern": "rggb",
    }
    capture = CaptureParams(iso=200, exposure_time=0.01, f_number=4.0, focal_length=35.0)
    result = unprocess.convert(rng.random((32, 48, 3)), capture=capture, metadata=metadata)
    assert result.raw.mosaic.shape == (32, 48)
    image = render.render(
        RawImage(
            result.raw.mosaic,
            cfa_pattern="rggb",
            wb_gains=[2.0, 1.0, 1.5],
            camera_to_srgb_matrix=np.eye(3),
            capture=capture,
            normalized=True,
        )
    )
    assert image.shape == (32, 48, 3) and np.all(np.isfinite(image))
    # An existing model is kept; a checkpoint of another method is one line, exit 2.
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    torch.save({"state_dict": {"head.weight": torch.zeros(3)}}, tmp_path / "other.ckpt")
    assert (
        main(["paramisp", "import", str(tmp_path / "o"), "--inverse", str(tmp_path / "other.ckpt")])
        == 2
    )
    assert "not a ParamISP checkpoint" in capsys.readouterr().err
    assert main(["paramisp", "import", str(tmp_path / "o")]) == 2
