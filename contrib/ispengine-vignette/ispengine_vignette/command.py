"""``ispengine vignette falloff``: print the falloff curve of a vignette setting.

``ispengine vignette falloff [--k1 K [K K]] [--k2 K [K K]] [--points N] [--json]``
prints ``v(r) = 1 / (1 + k1 r² + k2 r⁴)`` per channel at ``N`` radii from the
optical centre (``r = 0``) to the corner of a centred image (``r = 1``), and
the darkest channel's falloff in stops (``log2 v``): a quick check of how
strong a setting is before putting it in a spec. ``k1, k2`` take one value
(all channels) or three (R, G, B), in [0, 2] like the stage's parameters;
``N`` is in [2, 101] (default 6).
"""

from __future__ import annotations

import argparse
import json
import math

from ispengine import Command, ParamError

POINTS_RANGE = (2, 101)


def falloff_curve(k1: object, k2: object, points: int) -> tuple[list[float], list[list[float]]]:
    """Radii ``r`` and ``v(r)`` per channel for the stage's ``k1, k2`` (validated by it)."""
    from ispengine_vignette import Vignette

    low, high = POINTS_RANGE
    if not low <= points <= high:
        raise ParamError(f"--points: expected an integer in [{low}, {high}], got {points}")
    values = Vignette(k1=k1, k2=k2).values
    radii = [i / (points - 1) for i in range(points)]
    rows = [
        [
            1.0 / (1.0 + float(a) * r**2 + float(b) * r**4)
            for a, b in zip(values["k1"], values["k2"], strict=True)
        ]
        for r in radii
    ]
    return radii, rows


def cmd_falloff(args: argparse.Namespace) -> int:
    k1 = args.k1[0] if len(args.k1) == 1 else args.k1
    k2 = args.k2[0] if len(args.k2) == 1 else args.k2
    radii, rows = falloff_curve(k1, k2, args.points)
    if args.json:
        print(json.dumps({"r": radii, "falloff": rows}, indent=2))
        return 0
    print(f"{'r':>5}  {'R':>6}  {'G':>6}  {'B':>6}  {'stops':>6}")
    for r, row in zip(radii, rows, strict=True):
        cells = "  ".join(f"{v:6.4f}" for v in row)
        print(f"{r:5.3f}  {cells}  {math.log2(min(row)):+6.2f}")
    return 0


def _add_falloff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--k1",
        type=float,
        nargs="+",
        default=[0.3],
        help="r^2 coefficient(s), [0, 2] (default 0.3)",
    )
    parser.add_argument(
        "--k2",
        type=float,
        nargs="+",
        default=[0.1],
        help="r^4 coefficient(s), [0, 2] (default 0.1)",
    )
    parser.add_argument("--points", type=int, default=6, help="radii from 0 to 1 (default 6)")
    parser.add_argument("--json", action="store_true", help="print JSON")


COMMANDS = (
    Command("vignette", "radial lens shading (ispengine-vignette)"),
    Command(
        "vignette falloff",
        "print the falloff v(r) of a vignette setting per channel",
        run=cmd_falloff,
        add_arguments=_add_falloff_arguments,
    ),
)
