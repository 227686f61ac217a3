"""The authors' released CycleISP weights in the ``cycleisp`` method.

Source: S. W. Zamir, A. Arora, S. Khan, M. Hayat, F. S. Khan, M.-H. Yang and
L. Shao, "CycleISP: Real Image Restoration via Improved Data Synthesis",
CVPR 2020 (the checkpoints released with the authors' code).

The authors release one file per network (RGB2RAW, RAW2RGB and the
colour-correction branch CCM), each a torch pickle of ``{"state_dict": ...}``
whose names may carry the ``module.`` prefix of ``DataParallel``.
:func:`load_official_checkpoint` loads them into a :class:`CycleISP` method of
the ``published`` configuration (files are read with
``torch.load(weights_only=True)``, which runs no code, through
:func:`ispengine.learning.weights.load_checkpoint_state`);
:func:`import_official` saves the result as a model, and is the command
``ispengine cycleisp import OUT RGB2RAW_CKPT [--raw2rgb CKPT --ccm CKPT]``.
The saved model is used like any trained one
(``ispengine unprocess --method cycleisp --weights OUT.json ...``).

Names are mapped as follows (``G``: group, ``B``: block, ``n``: the number of
blocks per group, ``N``: the number of groups):

* ``head.0.*`` → ``head.*``; ``tail.0.*`` → ``tail.*``; RAW2RGB's
  ``tail_rgb.0.*`` → ``to_rgb.*``;
* in block ``body.G.body.B.``: ``body.0.*`` / ``body.2.*`` → ``conv1.*`` /
  ``conv2.*``, ``SA.spatial.conv.weight`` → ``spatial.conv.weight``,
  ``CA.conv_du.0.*`` / ``CA.conv_du.2.*`` → ``channel.squeeze.*`` /
  ``channel.excite.*``, ``conv1x1.*`` → ``fuse.*``, all under
  ``trunk.groups.G.blocks.B.``;
* ``body.G.body.n.*`` → ``trunk.groups.G.conv.*``; ``body.N.*`` →
  ``body_conv.*``;
* ``body.G.body.B.body.1.weight``, ``body.N+1.weight`` and RAW2RGB's
  ``tail.1.weight`` → ``act.weight`` (the shared PReLU).

Three quirks of the authors' layout:

* **One PReLU under many keys.** Each of their networks applies a single
  ``nn.PReLU`` module at every activation, so its weight is stored once per
  use. Every copy must be equal (else :class:`InputError` naming the first
  copy that differs); it is loaded once, as our shared ``act.weight``.
* **RAW2RGB's unused ``conv1x1``.** Their RAW2RGB defines a 1×1 conv 2C → C
  (``conv1x1.0.*``) that its forward pass never calls; our network leaves it
  out. Its tensors must be in the file with their shapes, and are ignored.
* **CCM's fixed blur.** ``blur.weight`` (3, 1, 21, 21) is a fixed Gaussian
  (σ = 12), not trained; ours is computed
  (:func:`plugins_builtin.cycleisp.networks.gaussian_blur`). The file's must
  equal it (to 1e-6), else the file is refused.

Any missing, unexpected, mis-shaped or non-finite tensor is an
:class:`InputError` of one line naming the file, the branch and the first
offending key; nothing is loaded unless every given file fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ispengine.core.errors import InputError

#: The authors' names inside one dual attention block → ours (``None``: the shared PReLU).
DAB_NAMES = (
    ("SA.spatial.conv.weight", "spatial.conv.weight"),
    ("CA.conv_du.0.weight", "channel.squeeze.weight"),
    ("CA.conv_du.0.bias", "channel.squeeze.bias"),
    ("CA.conv_du.2.weight", "channel.excite.weight"),
    ("CA.conv_du.2.bias", "channel.excite.bias"),
    ("body.0.weight", "conv1.weight"),
    ("body.0.bias", "conv1.bias"),
    ("body.1.weight", None),
    ("body.2.weight", "conv2.weight"),
    ("body.2.bias", "conv2.bias"),
    ("conv1x1.weight", "fuse.weight"),
    ("conv1x1.bias", "fuse.bias"),
)
SHARED_PRELU = "act.weight"
#: Tensors of the authors' files that are checked but not loaded (see the module docstring).
UNUSED_RAW2RGB = ("conv1x1.0.weight", "conv1x1.0.bias")
BLUR = "blur.weight"
BLUR_TOLERANCE = 1e-6
BRANCH_LABELS = {"rgb2raw": "RGB2RAW", "raw2rgb": "RAW2RGB", "ccm": "CCM"}


def official_names(branch: str, config: Any) -> dict[str, str | None]:
    """The authors' tensor names of ``branch`` (``rgb2raw``, ``raw2rgb`` or ``ccm``) for
    ``config`` (a :class:`~plugins_builtin.cycleisp.networks.CycleISPConfig`), in their
    order, each with our name in that branch's network (``None``: RAW2RGB's unused
    ``conv1x1`` and CCM's fixed blur, which are not loaded)."""
    if branch not in BRANCH_LABELS:
        raise ValueError(f"unknown CycleISP branch {branch!r}")
    ccm = branch == "ccm"
    groups = config.ccm_groups if ccm else config.groups
    blocks = config.ccm_blocks if ccm else config.blocks
    names: dict[str, str | None] = {"head.0.weight": "head.weight", "head.0.bias": "head.bias"}
    for group in range(groups):
        theirs, ours = f"body.{group}.body.", f"trunk.groups.{group}."
        for block in range(blocks):
            for their_name, our_name in DAB_NAMES:
                mapped = f"{ours}blocks.{block}.{our_name}" if our_name else SHARED_PRELU
                names[f"{theirs}{block}.{their_name}"] = mapped
        for kind in ("weight", "bias"):
            names[f"{theirs}{blocks}.{kind}"] = f"{ours}conv.{kind}"
    for kind in ("weight", "bias"):
        names[f"body.{groups}.{kind}"] = f"body_conv.{kind}"
    names[f"body.{groups + 1}.weight"] = SHARED_PRELU
    names.update({"tail.0.weight": "tail.weight", "tail.0.bias": "tail.bias"})
    if branch == "raw2rgb":
        names["tail.1.weight"] = SHARED_PRELU
        names.update({"tail_rgb.0.weight": "to_rgb.weight", "tail_rgb.0.bias": "to_rgb.bias"})
        names.update(dict.fromkeys(UNUSED_RAW2RGB))
    if ccm:
        names[BLUR] = None
    return names


def blur_kernel() -> np.ndarray:
    """The CCM's fixed blur as the authors store it: ``(3, 1, 21, 21)``, each channel the
    normalised 21×21 Gaussian of σ = 12 (the kernel :func:`gaussian_blur` applies)."""
    from plugins_builtin.cycleisp.networks import BLUR_SIGMA, BLUR_SIZE

    offsets = np.arange(BLUR_SIZE, dtype=np.float64) - BLUR_SIZE // 2
    line = np.exp(-(offsets**2) / (2 * BLUR_SIGMA**2))
    line /= line.sum()
    return np.broadcast_to(np.outer(line, line), (3, 1, BLUR_SIZE, BLUR_SIZE)).astype(np.float32)


def _read(source: Mapping[str, Any] | str | Path) -> tuple[dict[str, np.ndarray], str]:
    """The state dict of ``source`` (a file or a mapping) as numpy, and how to name it."""
    from ispengine.learning.weights import as_numpy, load_checkpoint_state, unwrap_state

    if isinstance(source, Mapping):
        try:
            return {k: as_numpy(v) for k, v in unwrap_state(source).items()}, "state dict"
        except (TypeError, ValueError) as error:
            raise InputError(f"state dict: not a state dict of tensors ({error})") from None
    return load_checkpoint_state(source), str(source)


def official_to_ours(
    branch: str, network: Any, config: Any, state: Mapping[str, np.ndarray], source: str
) -> dict[str, np.ndarray]:
    """The authors' state dict of ``branch`` (names without ``module.``) checked against
    ``network`` and renamed to its names (see the module docstring)."""
    from ispengine.learning.weights import checked_state

    label = f"{source} ({BRANCH_LABELS[branch]})"
    names = official_names(branch, config)
    ours = network.state_dict()
    channels = config.features
    unused_shapes = {
        "conv1x1.0.weight": (channels, 2 * channels, 1, 1),
        "conv1x1.0.bias": (channels,),
        BLUR: blur_kernel().shape,
    }
    expected = {
        theirs: ours[mapped] if mapped else np.broadcast_to(np.float32(0), unused_shapes[theirs])
        for theirs, mapped in names.items()
    }
    hint = f"not the authors' {BRANCH_LABELS[branch]} network, or another config?"
    arrays = checked_state(state, expected, label, hint=hint, missing_detail=hint)
    bad = next((k for k, v in arrays.items() if not np.all(np.isfinite(v))), None)
    if bad is not None:
        raise InputError(f"{label}: '{bad}' holds NaN or infinite values")
    copies = [theirs for theirs, mapped in names.items() if mapped == SHARED_PRELU]
    differing = next(
        (k for k in copies[1:] if not np.array_equal(arrays[k], arrays[copies[0]])), None
    )
    if differing is not None:
        raise InputError(
            f"{label}: PReLU copy '{differing}' differs from '{copies[0]}' (the network "
            "shares one PReLU, so every copy must be equal)"
        )
    if BLUR in arrays:
        error = float(np.max(np.abs(arrays[BLUR].astype(np.float64) - blur_kernel())))
        if error > BLUR_TOLERANCE:
            raise InputError(
                f"{label}: '{BLUR}' is not the fixed 21x21 Gaussian (sigma 12) of CycleISP "
                f"(differs by up to {error:.3g})"
            )
    return {mapped: arrays[theirs] for theirs, mapped in names.items() if mapped}


def load_official_checkpoint(
    method: Any,
    rgb2raw: Mapping[str, Any] | str | Path,
    *,
    raw2rgb: Mapping[str, Any] | str | Path | None = None,
    ccm: Mapping[str, Any] | str | Path | None = None,
) -> Any:
    """Load the authors' released networks into ``method`` (a ``cycleisp`` method).

    Args:
        method: a :class:`~plugins_builtin.cycleisp.method.CycleISP`, ``config =
            "published"`` for the released files; ``train_raw2rgb=true`` when RAW2RGB
            and CCM are given.
        rgb2raw: the RGB2RAW checkpoint: a file (a torch pickle of the state dict,
            possibly under ``state_dict``, read with ``weights_only=True``, or a
            safetensors file) or such a mapping; ``module.`` prefixes are removed.
        raw2rgb, ccm: the RAW2RGB and CCM checkpoints, both or neither.

    Returns ``method``. Raises :class:`InputError` (one line, naming the file, the
    branch and the first offending key) when a file does not fit; then no weight of
    ``method`` is changed. See the module docstring for the mapping, the shared PReLU,
    RAW2RGB's unused ``conv1x1`` (ignored) and CCM's fixed blur (checked).
    """
    import torch

    if (raw2rgb is None) != (ccm is None):
        raise InputError(
            "cycleisp checkpoint: give the RAW2RGB and CCM checkpoints together "
            "(RAW2RGB reads the CCM's output)"
        )
    if raw2rgb is not None and not method.config["train_raw2rgb"]:
        raise InputError(
            "cycleisp checkpoint: RAW2RGB and CCM need a method with train_raw2rgb=true"
        )
    networks = method.networks()
    given = {"rgb2raw": rgb2raw, "raw2rgb": raw2rgb, "ccm": ccm}
    converted = {}
    for branch, source in given.items():
        if source is not None:
            try:
                state, label = _read(source)
            except InputError as error:  # say which of the three files it was
                raise InputError(f"{error} ({BRANCH_LABELS[branch]})") from None
            network = networks[branch]
            converted[branch] = official_to_ours(
                branch, network, method.network_config, state, label
            )
    for branch, arrays in converted.items():
        network = networks[branch]
        network.load_state_dict(
            {
                name: torch.from_numpy(np.array(arrays[name])).to(
                    dtype=reference.dtype, device=reference.device
                )
                for name, reference in network.state_dict().items()
            }
        )
    return method


def import_official(
    out: str | Path,
    rgb2raw: str | Path,
    *,
    raw2rgb: str | Path | None = None,
    ccm: str | Path | None = None,
    config: str = "published",
    overwrite: bool = False,
) -> Path:
    """Save the authors' checkpoints as a ``cycleisp`` model at ``out`` (``OUT.json`` +
    weights); returns the settings file. With RAW2RGB and CCM the model has
    ``train_raw2rgb=true`` (and :meth:`~CycleISP.render` works). Nothing is written
    when a file does not fit, and an existing model is kept unless ``overwrite``."""
    from plugins_builtin.cycleisp.method import CycleISP

    settings_file = Path(out).with_suffix(".json")
    if settings_file.exists() and not overwrite:
        raise InputError(f"{settings_file}: exists (give --overwrite)")
    method = CycleISP(config=config, train_raw2rgb=raw2rgb is not None or ccm is not None)
    load_official_checkpoint(method, rgb2raw, raw2rgb=raw2rgb, ccm=ccm)
    return method.save(out)
