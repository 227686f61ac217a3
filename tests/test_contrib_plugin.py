"""The separately installed example plugin (contrib/ispengine-vignette) behaves like a built-in.

The README's test command installs it before running the tests.
"""

import subprocess
import sys

import numpy as np

from ispengine import get_registry
from ispengine.cli import main


def test_it_is_registered_from_its_own_distribution():
    record = get_registry().get("stage", "vignette")
    assert record.distribution == "ispengine-vignette"
    assert get_registry().inverse_kind("vignette") == "exact"


def test_it_appears_in_ispengine_stages():
    result = subprocess.run(
        [sys.executable, "-m", "ispengine.cli", "stages"], capture_output=True, text=True
    )
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "exact" in rows["vignette"] and "vignette" in rows["vignette_correction"]


def test_it_runs_and_inverts_in_a_toml_pipeline(tmp_path):
    spec = tmp_path / "lens.toml"
    spec.write_text(
        '[[stage]]\ntype = "vignette"\nparams = { k1 = [0.4, 0.5, 0.6], cx = 0.1 }\n'
        '[[stage]]\ntype = "gamma_tone"\nparams = { g1 = 2.2 }\n'
    )
    image = tmp_path / "in.npy"
    x = np.random.default_rng(0).uniform(0, 1, (8, 10, 3))
    np.save(image, x)
    assert main(["run", str(spec), str(image), str(tmp_path / "out.npy")]) == 0
    assert main(["invert", str(spec), str(tmp_path / "out.npy"), str(tmp_path / "back.npy")]) == 0
    assert np.max(np.abs(np.load(tmp_path / "back.npy") - x)) < 1e-9
    assert not np.allclose(np.load(tmp_path / "out.npy"), x)


def test_it_gets_the_generic_round_trip_test():
    from tests.test_round_trip import INVERTIBLE

    assert "vignette_correction" in {record.name for record in INVERTIBLE}
