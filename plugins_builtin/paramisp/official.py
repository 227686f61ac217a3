"""The authors' released ParamISP weights as a saved ``paramisp`` model.

``import_official(out, forward=..., inverse=...)`` builds a ``paramisp`` method of
the published configuration with the ``code`` over-exposure mask (the one their
weights were trained with), loads each given checkpoint into its direction
(:func:`plugins_builtin.paramisp.checkpoint.load_official_state_dict`) and saves
it, so that ``ispengine unprocess --method paramisp --weights OUT.json``, the
RAW-to-sRGB method, the ``paramisp_forward`` stage and the applications use
the released weights like any model trained here.

Source: W. Kim, G. Kim, J. Lee, S. Lee, S.-H. Baek, S. Cho, "ParamISP: Learned Forward
and Inverse ISPs using Camera Parameters", CVPR 2024 (the released code's checkpoints).
"""

from __future__ import annotations

from pathlib import Path

from ispengine.core.errors import InputError


def import_official(
    out: str | Path, *, forward: str | Path | None = None, inverse: str | Path | None = None
) -> Path:
    """Save the authors' checkpoint(s) as one ``paramisp`` model at ``out``; returns its
    settings file. At least one of ``forward`` and ``inverse`` is needed; a model with
    only one direction is saved with ``directions`` set to it."""
    from plugins_builtin.paramisp.checkpoint import load_official_state_dict
    from plugins_builtin.paramisp.method import ParamISP

    given = {"forward": forward, "inverse": inverse}
    held = [direction for direction, path in given.items() if path is not None]
    if not held:
        raise InputError("give the authors' checkpoint of the forward and/or the inverse network")
    for direction in held:
        if not Path(given[direction]).is_file():
            raise InputError(f"{given[direction]}: no such checkpoint file ({direction})")
    directions = "both" if len(held) == 2 else held[0]
    method = ParamISP(config="published", mask="code", directions=directions)
    networks = method.model.networks()
    for direction in held:
        try:
            load_official_state_dict(networks[direction], given[direction])
        except InputError as error:
            raise InputError(f"{given[direction]} ({direction}): {error}") from None
    return method.save(out)
