"""Loading the authors' released ParamISP weights into :class:`ParamISPNet`.

Their checkpoints are PyTorch Lightning files, one per direction, with the
tensors under ``state_dict`` (possibly ``module.``-prefixed). Names map as::

    tonenet.*                -> tonenet.*            (GlobalNet)
    localnet.*               -> localnet.*           (LocalNet)
    hypertonenet.fc_embed.*  -> tonenet.fc_embed.*   (z injection into GlobalNet)
    hyperlocalnet.fc_head.*  -> localnet.fc_head.*   (z injection into LocalNet)
    embed_color.*, embed_focallen.*, embed_aperture.*, embed_expstime.*,
    embed_senstvty.*, embednet.*                      -> paramnet.<same>

Ignored: ``demosaic.*`` (fixed demosaicing buffers), ``hypertonenet.target.*`` and
``hyperlocalnet.target.*`` (the same tensors as ``tonenet.*`` and ``localnet.*``,
which their hyper-modules wrap), and ``embed_id.*`` (a camera-id embedding their
forward pass multiplies by zero). Their nets were trained with the ``code``
over-exposure mask: build the net with ``mask="code"`` to reproduce them.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024; names and layout from the authors'
released code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ispengine.core.errors import InputError

#: Prefixes of tensors their checkpoints hold that this implementation does not use.
IGNORED_PREFIXES: tuple[str, ...] = (
    "demosaic.",
    "hypertonenet.target.",
    "hyperlocalnet.target.",
    "embed_id.",
)

#: Official prefix -> this implementation's prefix (first match wins).
RENAMES: tuple[tuple[str, str], ...] = (
    ("hypertonenet.fc_embed.", "tonenet.fc_embed."),
    ("hyperlocalnet.fc_head.", "localnet.fc_head."),
    ("embed_", "paramnet.embed_"),
    ("embednet.", "paramnet.embednet."),
    ("tonenet.", "tonenet."),
    ("localnet.", "localnet."),
)


def _first(keys: list[str], limit: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def _read(source: Mapping[str, Any] | str | Path) -> Mapping[str, Any]:
    """The tensors of ``source`` (a mapping or a file), Lightning nesting and
    ``module.`` prefixes removed."""
    if not isinstance(source, Mapping):
        from ispengine.learning.weights import load_torch_file

        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path}: no such checkpoint file")
        source = load_torch_file(path, what="checkpoint")
        if not isinstance(source, Mapping):
            raise InputError(f"{path}: holds a {type(source).__name__}, not a state dict")
    if "state_dict" in source and isinstance(source["state_dict"], Mapping):
        source = source["state_dict"]
    return {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in source.items()}


def official_name(name: str) -> str:
    """The authors' name of this implementation's parameter ``name``."""
    for theirs, ours in RENAMES:
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    return name


def convert_state_dict(source: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """The authors' state dict renamed to this implementation's names (no checks
    beyond recognising a ParamISP checkpoint)."""
    tensors = _read(source)
    if not any(k.startswith(("tonenet.", "localnet.")) for k in tensors):
        raise InputError(
            "not a ParamISP checkpoint: it has no tonenet.* or localnet.* tensors "
            f"(first keys: {_first(list(tensors))})"
        )
    out: dict[str, Any] = {}
    for key, value in tensors.items():
        if key.startswith(IGNORED_PREFIXES):
            continue
        for theirs, ours in RENAMES:
            if key.startswith(theirs):
                key = ours + key[len(theirs) :]
                break
        out[key] = value
    return out


def load_official_state_dict(net: Any, source: Mapping[str, Any] | str | Path) -> Any:
    """Load the authors' weights of one direction into ``net`` (a ``ParamISPNet``).

    Args:
        net: a :class:`~plugins_builtin.paramisp.networks.ParamISPNet` of the published
            configuration with ParamNet and equalisation.
        source: a state dict (possibly Lightning-nested, possibly ``module.``-prefixed)
            or the path of a checkpoint file (read with ``weights_only=True``).

    Returns ``net``. Raises :class:`InputError` naming the first missing, unexpected or
    wrongly shaped tensors, or saying the source is not a ParamISP checkpoint.
    """
    import torch

    tensors = convert_state_dict(source)
    expected = net.state_dict()
    missing = [official_name(k) for k in expected if k not in tensors]
    if missing:
        raise InputError(f"ParamISP checkpoint: missing tensors {_first(missing)}")
    extra = [k for k in tensors if k not in expected]
    if extra:
        raise InputError(
            f"ParamISP checkpoint: unexpected tensors {_first([official_name(k) for k in extra])}"
        )
    wrong = [
        f"{official_name(k)} {tuple(torch.as_tensor(tensors[k]).shape)} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if tuple(torch.as_tensor(tensors[k]).shape) != tuple(v.shape)
    ]
    if wrong:
        raise InputError(f"ParamISP checkpoint: wrong shapes: {'; '.join(wrong[:3])}")
    net.load_state_dict({k: torch.as_tensor(v) for k, v in tensors.items()})
    return net
