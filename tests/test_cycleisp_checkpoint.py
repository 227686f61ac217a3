"""The authors' released CycleISP checkpoints in the ``cycleisp`` method.

State dicts of the authors' layout (names and shapes as their code builds
them: one PReLU under many keys, RAW2RGB's unused ``conv1x1``, CCM's fixed
blur, optional ``module.`` prefixes) are built here from random tensors, loaded
at the published size, and the networks' outputs are compared with the
authors' forward pass written out here with ``torch.nn.functional`` on the same
tensors, under their names.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from ispengine.cli import main  # noqa: E402
from ispengine.core.errors import InputError  # noqa: E402
from ispengine.learning.srgb_to_raw import load_method  # noqa: E402
from plugins_builtin.cycleisp.checkpoint import (  # noqa: E402
    import_official,
    load_official_checkpoint,
    official_names,
)
from plugins_builtin.cycleisp.method import CycleISP  # noqa: E402
from plugins_builtin.cycleisp.networks import PUBLISHED, pack_mosaic  # noqa: E402

BRANCHES = ("rgb2raw", "raw2rgb", "ccm")
# The tensor names and shapes of the authors' three released files (RGB2RAW, RAW2RGB,
# CCM), listed from them: one "# branch" line, then "name (shape)" per tensor.
LAYOUT_FILE = Path(__file__).with_name("data") / "cycleisp_checkpoint_layout.txt"
SIZES = {"rgb2raw": (3, 5), "raw2rgb": (3, 5), "ccm": (2, 2)}  # groups, blocks
C = 96


# -- the authors' layout, written out from their code's structure --------------------------
def authors_layout(branch: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the authors' ``Rgb2Raw`` / ``Raw2Rgb`` / ``CCM`` state dicts."""
    groups, blocks = SIZES[branch]
    conv3 = (C, C, 3, 3)
    shapes = {"head.0.weight": (C, 4 if branch == "raw2rgb" else 3, 3, 3), "head.0.bias": (C,)}
    for g in range(groups):
        for b in range(blocks):
            p = f"body.{g}.body.{b}."
            shapes.update({
                p + "SA.spatial.conv.weight": (1, 2, 3, 3),
                p + "CA.conv_du.0.weight": (C // 8, C, 1, 1), p + "CA.conv_du.0.bias": (C // 8,),
                p + "CA.conv_du.2.weight": (C, C // 8, 1, 1), p + "CA.conv_du.2.bias": (C,),
                p + "body.0.weight": conv3, p + "body.0.bias": (C,),
                p + "body.1.weight": (C,),
                p + "body.2.weight": conv3, p + "body.2.bias": (C,),
                p + "conv1x1.weight": (C, 2 * C, 1, 1), p + "conv1x1.bias": (C,),
            })  # fmt: skip
        shapes.update(
            {f"body.{g}.body.{blocks}.weight": conv3, f"body.{g}.body.{blocks}.bias": (C,)}
        )
    shapes.update({f"body.{groups}.weight": conv3, f"body.{groups}.bias": (C,)})
    shapes[f"body.{groups + 1}.weight"] = (C,)
    if branch == "rgb2raw":
        shapes.update({"tail.0.weight": (3, C, 3, 3), "tail.0.bias": (3,)})
    else:
        shapes.update({"tail.0.weight": conv3, "tail.0.bias": (C,)})
    if branch == "raw2rgb":
        shapes.update({
            "tail.1.weight": (C,),
            "tail_rgb.0.weight": (12, C, 1, 1), "tail_rgb.0.bias": (12,),
            "conv1x1.0.weight": (C, 2 * C, 1, 1), "conv1x1.0.bias": (C,),
        })  # fmt: skip
    if branch == "ccm":
        shapes["blur.weight"] = (3, 1, 21, 21)
    return shapes


def authors_blur() -> torch.Tensor:
    """Their ``get_gaussian_kernel(21, sigma=12)``: a normalised 2-D Gaussian per channel."""
    x = torch.arange(21).repeat(21).view(21, 21)
    grid = torch.stack([x, x.t()], dim=-1).float()
    variance = 12.0**2
    kernel = torch.exp(-torch.sum((grid - 10.0) ** 2, dim=-1) / (2 * variance))
    kernel = kernel / (2 * math.pi * variance)
    return (kernel / kernel.sum()).view(1, 1, 21, 21).repeat(3, 1, 1, 1)


def is_prelu(name: str, shape: tuple[int, ...]) -> bool:
    return name.endswith(".weight") and len(shape) == 1


def authors_state(branch: str, seed: int) -> dict[str, torch.Tensor]:
    """Random tensors of the authors' layout; the PReLU repeated under all its keys."""
    generator = torch.Generator().manual_seed(seed)
    prelu = 0.25 + 0.05 * torch.randn(C, generator=generator)
    state = {}
    for name, shape in authors_layout(branch).items():
        if is_prelu(name, shape):
            state[name] = prelu.clone()
        elif name == "blur.weight":
            state[name] = authors_blur()
        elif name.endswith(".bias"):
            state[name] = 0.05 * torch.randn(shape, generator=generator)
        else:
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=generator) * (0.5 / math.sqrt(fan_in))
    return state


# -- the authors' forward passes, on their names ---------------------------------------------
def _conv(s, name, x):
    weight = s[name + ".weight"]
    return F.conv2d(x, weight, s.get(name + ".bias"), padding=weight.shape[-1] // 2)


def _dab(s, p, x):
    res = _conv(s, p + "body.2", F.prelu(_conv(s, p + "body.0", x), s[p + "body.1.weight"]))
    pooled = torch.cat([res.max(dim=1, keepdim=True)[0], res.mean(dim=1, keepdim=True)], dim=1)
    sa = res * torch.sigmoid(_conv(s, p + "SA.spatial.conv", pooled))
    squeezed = F.relu(_conv(s, p + "CA.conv_du.0", res.mean(dim=(2, 3), keepdim=True)))
    ca = res * torch.sigmoid(_conv(s, p + "CA.conv_du.2", squeezed))
    return _conv(s, p + "conv1x1", torch.cat([sa, ca], dim=1)) + x


def _body_to_conv(s, x, groups, blocks):
    """``body[:-1]``: the RRGs and the conv after them (not the final PReLU)."""
    for g in range(groups):
        y = x
        for b in range(blocks):
            y = _dab(s, f"body.{g}.body.{b}.", y)
        x = _conv(s, f"body.{g}.body.{blocks}", y) + x
    return _conv(s, f"body.{groups}", x)


def authors_rgb2raw(s, srgb):
    x = _body_to_conv(s, _conv(s, "head.0", srgb), 3, 5)
    return _conv(s, "tail.0", F.prelu(x, s["body.4.weight"]))


def authors_ccm(s, srgb):
    x = F.conv2d(F.pad(srgb, (10, 10, 10, 10), mode="reflect"), s["blur.weight"], groups=3)
    x = F.max_pool2d(_conv(s, "head.0", x), 2)
    x = F.prelu(_body_to_conv(s, x, 2, 2), s["body.3.weight"])
    return torch.sigmoid(_conv(s, "tail.0", x))


def authors_raw2rgb(s, packed, ccm):
    x = _body_to_conv(s, _conv(s, "head.0", packed), 3, 5)
    x = F.prelu(x * ccm + x, s["body.4.weight"])
    x = F.prelu(_conv(s, "tail.0", x), s["tail.1.weight"])
    return F.pixel_shuffle(_conv(s, "tail_rgb.0", x), 2)


# -- the mapping, stated independently of the implementation's table -------------------------
OUR_NAMES = (
    (r"^head\.0\.", "head."),
    (r"^tail\.0\.", "tail."),
    (r"^tail_rgb\.0\.", "to_rgb."),
    (r"^body\.(\d)\.body\.(\d)\.body\.0\.", r"trunk.groups.\1.blocks.\2.conv1."),
    (r"^body\.(\d)\.body\.(\d)\.body\.2\.", r"trunk.groups.\1.blocks.\2.conv2."),
    (r"^body\.(\d)\.body\.(\d)\.SA\.spatial\.", r"trunk.groups.\1.blocks.\2.spatial."),
    (r"^body\.(\d)\.body\.(\d)\.CA\.conv_du\.0\.", r"trunk.groups.\1.blocks.\2.channel.squeeze."),
    (r"^body\.(\d)\.body\.(\d)\.CA\.conv_du\.2\.", r"trunk.groups.\1.blocks.\2.channel.excite."),
    (r"^body\.(\d)\.body\.(\d)\.conv1x1\.", r"trunk.groups.\1.blocks.\2.fuse."),
)


def our_name(branch: str, name: str) -> str | None:
    groups, blocks = SIZES[branch]
    if is_prelu(name, tuple(authors_layout(branch)[name])):
        return "act.weight"
    if name.startswith(("conv1x1.0.", "blur.")):
        return None
    if name.startswith(f"body.{groups}."):
        return "body_conv." + name.rsplit(".", 1)[1]
    match = re.match(rf"^body\.(\d)\.body\.{blocks}\.(weight|bias)$", name)
    if match:
        return f"trunk.groups.{match[1]}.conv.{match[2]}"
    for pattern, replacement in OUR_NAMES:
        if re.match(pattern, name):
            return re.sub(pattern, replacement, name)
    raise AssertionError(name)


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def states():
    return {branch: authors_state(branch, seed) for seed, branch in enumerate(BRANCHES, 1)}


@pytest.fixture(scope="module")
def files(states, tmp_path_factory):
    """The three files as released: ``{'state_dict': ...}``, with and without ``module.``."""
    root = tmp_path_factory.mktemp("cycleisp_authors")
    paths = {branch: root / f"{branch}.pth" for branch in BRANCHES}
    prefixed = {f"module.{k}": v for k, v in states["rgb2raw"].items()}
    torch.save({"state_dict": prefixed}, paths["rgb2raw"])
    torch.save({"state_dict": states["raw2rgb"]}, paths["raw2rgb"])
    torch.save({f"module.{k}": v for k, v in states["ccm"].items()}, paths["ccm"])  # flat
    return paths


@pytest.fixture(scope="module")
def loaded(files):
    method = CycleISP(config="published", train_raw2rgb=True, device="cpu", threads=2)
    return load_official_checkpoint(
        method, files["rgb2raw"], raw2rgb=files["raw2rgb"], ccm=files["ccm"]
    )


@pytest.fixture(scope="module")
def target():
    """A fresh published RGB2RAW method that the error tests try to load into."""
    return CycleISP(config="published", device="cpu")


def assert_same_weights(method, reference):
    ours, theirs = method.state(), reference.state()
    assert set(ours) == set(theirs)
    for name, tensor in theirs.items():
        assert torch.equal(ours[name], tensor), name


def srgb_image(seed: int = 0, size: int = 16) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (size, size, 3)).astype(np.float32)


# -- tests ---------------------------------------------------------------------------------
def test_the_layout_written_here_is_the_authors_file():
    sections: dict[str, dict[str, tuple[int, ...]]] = {}
    for line in LAYOUT_FILE.read_text().splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:].strip(), {})
        elif line.strip():
            name, shape = line.split(" ", 1)
            current[name] = tuple(int(v) for v in re.findall(r"\d+", shape))
    for branch in BRANCHES:
        assert list(sections[branch].items()) == list(authors_layout(branch).items())


@pytest.mark.parametrize("branch", BRANCHES)
def test_official_names_cover_the_layout_and_our_network(branch):
    method = CycleISP(config="published", train_raw2rgb=True)
    names = official_names(branch, PUBLISHED)
    assert list(names) == list(authors_layout(branch))
    assert {our_name(branch, k) for k in names} - {None} == set(
        method.networks()[branch].state_dict()
    )
    assert names == {k: our_name(branch, k) for k in names}


def test_every_loaded_tensor_is_the_authors_tensor(loaded, states):
    networks = loaded.networks()
    for branch in BRANCHES:
        ours = networks[branch].state_dict()
        seen = set()
        for name, tensor in states[branch].items():
            mapped = our_name(branch, name)
            if mapped is not None:
                assert torch.equal(ours[mapped], tensor), (branch, name)
                seen.add(mapped)
        assert seen == set(ours)


def test_outputs_equal_the_authors_forward_pass(loaded, states):
    srgb = srgb_image(1)
    tensor = torch.from_numpy(srgb).permute(2, 0, 1)[None]
    networks = loaded.networks()
    with torch.no_grad():
        expected_rgb = authors_rgb2raw(states["rgb2raw"], tensor)
        torch.testing.assert_close(networks["rgb2raw"](tensor), expected_rgb, rtol=1e-4, atol=1e-5)
        # render: their RAW2RGB fed their CCM of the sRGB
        raw = np.random.default_rng(2).uniform(0, 1, (16, 16)).astype(np.float32)
        gates = authors_ccm(states["ccm"], tensor)
        packed = pack_mosaic(torch.from_numpy(raw)[None], "rggb")
        expected = authors_raw2rgb(states["raw2rgb"], packed, gates).clamp(0, 1)
        rendered = loaded.render(raw, srgb, "rggb")
    np.testing.assert_allclose(rendered, expected[0].permute(1, 2, 0).numpy(), atol=1e-5)
    assert rendered.std() > 1e-3  # not a saturated, constant image


def test_one_changed_tensor_changes_the_output(states, loaded, tmp_path):
    changed = dict(states["rgb2raw"])
    changed["body.1.body.3.CA.conv_du.2.bias"] = changed["body.1.body.3.CA.conv_du.2.bias"] + 0.5
    torch.save({"state_dict": changed}, tmp_path / "changed.pth")
    method = load_official_checkpoint(CycleISP(config="published"), tmp_path / "changed.pth")
    tensor = torch.from_numpy(srgb_image(3)).permute(2, 0, 1)[None]
    with torch.no_grad():
        before = loaded.networks()["rgb2raw"](tensor)
        after = method.networks()["rgb2raw"](tensor)
        assert (after - before).abs().max() > 1e-4
        torch.testing.assert_close(after, authors_rgb2raw(changed, tensor), rtol=1e-4, atol=1e-5)


def test_unused_conv1x1_is_ignored_and_sources_may_be_mappings(states, loaded):
    raw2rgb = dict(states["raw2rgb"])
    raw2rgb["conv1x1.0.weight"] = torch.zeros_like(raw2rgb["conv1x1.0.weight"])
    rgb2raw = {"state_dict": {f"module.{k}": v for k, v in states["rgb2raw"].items()}}
    method = CycleISP(config="published", train_raw2rgb=True)
    load_official_checkpoint(method, rgb2raw, raw2rgb=raw2rgb, ccm=states["ccm"])
    assert_same_weights(method, loaded)


def _saved(tmp_path, state, name="bad.pth"):
    torch.save({"state_dict": state}, tmp_path / name)
    return tmp_path / name


def _with(state, **changes):
    out = dict(state)
    for key, value in changes.items():
        out[key.replace("__", ".")] = value
    return out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: _with(s, body__2__body__3__body__1__weight=s["body.4.weight"] + 1e-3),
            r"PReLU copy 'body\.2\.body\.3\.body\.1\.weight' differs from "
            r"'body\.0\.body\.0\.body\.1\.weight'",
        ),
        (
            lambda s: {k: v for k, v in s.items() if k != "body.1.body.2.conv1x1.bias"},
            r"no 'body\.1\.body\.2\.conv1x1\.bias'",
        ),
        (
            lambda s: _with(s, tail__0__weight=torch.zeros(4, C, 3, 3)),
            r"'tail\.0\.weight' has shape \(4, 96, 3, 3\), expected \(3, 96, 3, 3\)",
        ),
        (lambda s: _with(s, extra__weight=torch.zeros(1)), r"unexpected 'extra\.weight'"),
        (
            lambda s: _with(s, head__0__bias=torch.full((C,), float("nan"))),
            r"'head\.0\.bias' (holds|contains) NaN",
        ),
    ],
    ids=["differing_prelu", "missing_key", "wrong_shape", "unexpected_key", "nan"],
)
def test_bad_rgb2raw_files_are_one_line_input_errors(states, target, tmp_path, change, message):
    before = target.state()
    path = _saved(tmp_path, change(states["rgb2raw"]))
    with pytest.raises(InputError, match=message) as caught:
        load_official_checkpoint(target, path)
    text = str(caught.value)
    assert len(text.splitlines()) == 1 and str(path) in text and "(RGB2RAW)" in text
    after = target.state()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_a_raw2rgb_prelu_copy_and_the_ccm_blur_are_checked(states, tmp_path):
    method = CycleISP(config="published", train_raw2rgb=True)
    raw2rgb = _with(states["raw2rgb"], tail__1__weight=states["raw2rgb"]["tail.1.weight"] * 2)
    with pytest.raises(InputError, match=r"\(RAW2RGB\): PReLU copy 'tail\.1\.weight' differs"):
        load_official_checkpoint(method, states["rgb2raw"], raw2rgb=raw2rgb, ccm=states["ccm"])
    ccm = _with(states["ccm"], blur__weight=torch.full((3, 1, 21, 21), 1 / 441))
    with pytest.raises(InputError, match=r"\(CCM\): 'blur\.weight' is not the fixed 21x21"):
        load_official_checkpoint(
            method, states["rgb2raw"], raw2rgb=states["raw2rgb"], ccm=_saved(tmp_path, ccm)
        )


def test_files_that_are_not_checkpoints_are_input_errors(states, target, tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    with pytest.raises(InputError, match="notes.pth: cannot read weights") as caught:
        load_official_checkpoint(target, text)
    assert len(str(caught.value).splitlines()) == 1
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(InputError, match="list.pth: expected a mapping"):
        load_official_checkpoint(target, tmp_path / "list.pth")
    with pytest.raises(InputError, match="no such weights file"):
        load_official_checkpoint(target, tmp_path / "absent.pth")
    # another network's file: RAW2RGB's has every RGB2RAW name and more
    with pytest.raises(InputError, match=r"\(RGB2RAW\): unexpected 'conv1x1\.0\.bias'"):
        load_official_checkpoint(target, _saved(tmp_path, states["raw2rgb"]))


def test_branches_must_fit_the_method(states, target):
    with pytest.raises(InputError, match="together"):
        load_official_checkpoint(target, states["rgb2raw"], raw2rgb=states["raw2rgb"])
    with pytest.raises(InputError, match="train_raw2rgb=true"):
        load_official_checkpoint(
            target, states["rgb2raw"], raw2rgb=states["raw2rgb"], ccm=states["ccm"]
        )
    with pytest.raises(InputError, match="another config"):  # the small network
        load_official_checkpoint(CycleISP(config="small"), states["rgb2raw"])


def test_import_command_saves_a_model_that_unprocess_uses(files, loaded, tmp_path, capsys):
    out = tmp_path / "cycleisp_authors"
    argv = ["cycleisp", "import", str(out), str(files["rgb2raw"]),
            "--raw2rgb", str(files["raw2rgb"]), "--ccm", str(files["ccm"])]  # fmt: skip
    assert main(argv) == 0
    method = load_method(out.with_suffix(".json"))
    assert isinstance(method, CycleISP)
    assert method.config["config"] == "published" and method.config["train_raw2rgb"]
    assert_same_weights(method, loaded)
    assert main(argv) == 2  # the model exists: kept
    assert "exists" in capsys.readouterr().err
    image = tmp_path / "photo.npy"
    np.save(image, srgb_image(4, 8))
    raw_out = tmp_path / "photo_raw.npy"
    argv = ["unprocess", "--method", "cycleisp", "--weights", str(out.with_suffix(".json")),
            str(image), str(raw_out)]  # fmt: skip
    assert main(argv) == 0
    assert raw_out.exists()


def test_import_command_of_a_bad_file_writes_nothing(tmp_path, capsys):
    (tmp_path / "bad.pth").write_bytes(b"\x00garbage")
    out = tmp_path / "model"
    assert main(["cycleisp", "import", str(out), str(tmp_path / "bad.pth")]) == 2
    message = capsys.readouterr().err.strip()
    assert "bad.pth" in message and len(message.splitlines()) == 1
    assert not out.with_suffix(".json").exists()
    with pytest.raises(InputError, match="together"):
        import_official(out, tmp_path / "bad.pth", ccm=tmp_path / "bad.pth")
