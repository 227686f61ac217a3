"""Weight files and the checks of a loaded state against a model's (ispengine.learning.weights)."""

import numpy as np
import pytest

from ispengine.core.errors import InputError
from ispengine.learning.weights import checked_state, load_arrays, save_arrays

EXPECTED = {"a.weight": np.zeros((2, 3)), "a.bias": np.zeros(2), "scale": np.zeros(())}


def _state():
    return {
        "a.bias": np.arange(2.0),
        "scale": np.array(4.0),
        "a.weight": np.ones((2, 3), dtype=np.float16),
    }


def test_a_matching_state_comes_back_as_numpy_in_the_models_order():
    arrays = checked_state(_state(), EXPECTED, "w.safetensors")
    assert list(arrays) == list(EXPECTED)
    assert arrays["scale"].shape == ()
    assert arrays["a.weight"].dtype == np.float16
    np.testing.assert_array_equal(arrays["a.bias"], [0.0, 1.0])


def test_the_first_missing_unexpected_or_misshaped_array_is_named():
    state = _state()
    del state["a.bias"]
    with pytest.raises(InputError, match=r"^w: no 'a.bias' \(1 missing; holds a\)$"):
        checked_state(state, EXPECTED, "w", missing_detail="holds a")
    with pytest.raises(InputError, match=r"^w: unexpected 'b' \(another config\?\)$"):
        checked_state({**_state(), "b": np.zeros(1)}, EXPECTED, "w")
    with pytest.raises(InputError, match=r"'a.weight' has shape \(3, 2\), expected \(2, 3\) \(x\)"):
        checked_state({**_state(), "a.weight": np.zeros((3, 2))}, EXPECTED, "w", hint="x")


def test_torch_tensors_are_accepted_and_files_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    state = {k: torch.as_tensor(v) for k, v in _state().items()}
    arrays = checked_state(state, EXPECTED, "w")
    for suffix in (".safetensors", ".pt"):
        path = save_arrays(tmp_path / f"w{suffix}", arrays)
        again = checked_state(load_arrays(path), EXPECTED, str(path))
        for name in EXPECTED:
            np.testing.assert_array_equal(again[name], arrays[name])
    with pytest.raises(InputError, match="suffix"):
        save_arrays(tmp_path / "w.npz", arrays)


def test_checkpoint_state_unwraps_training_frameworks_and_dataparallel(tmp_path):
    torch = pytest.importorskip("torch")
    from ispengine.learning.weights import load_checkpoint_state

    state = {"module.a.weight": torch.ones(2, 3), "module.a.bias": torch.zeros(2)}
    torch.save({"params": state, "iter": 5}, tmp_path / "basicsr.pth")
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "lightning.ckpt")
    torch.save(state, tmp_path / "flat.pt")
    for name in ("basicsr.pth", "lightning.ckpt", "flat.pt"):
        arrays = load_checkpoint_state(tmp_path / name)
        assert sorted(arrays) == ["a.bias", "a.weight"]
        np.testing.assert_array_equal(arrays["a.weight"], np.ones((2, 3)))
    with pytest.raises(InputError, match="nested mapping"):
        load_arrays(tmp_path / "basicsr.pth")
    torch.save({"config": {"lr": 1}, "weights": [1, 2]}, tmp_path / "odd.pt")
    with pytest.raises(InputError, match="not a"):
        load_checkpoint_state(tmp_path / "odd.pt")
    with pytest.raises(InputError, match="no such weights file"):
        load_checkpoint_state(tmp_path / "missing.pth")
