"""Loading weights safely (issue 19, item 12): a torch file holding Python objects (a
pickle that could run code) is refused in one line that never suggests
``weights_only=False``, and weights with NaN or Inf values are refused at load time,
naming the file and the first such tensor; the same through the command line."""

import json
from pathlib import Path

import numpy as np
import pytest

from ispengine.cli import main
from ispengine.core.errors import InputError
from ispengine.io.image_files import write_image
from ispengine.learning.weights import load_arrays, load_checkpoint_state, save_arrays

torch = pytest.importorskip("torch")


def _payload_ran(marker: str) -> None:
    """What the hostile pickle would run on load: harmless, it writes a marker file."""
    Path(marker).write_text("the payload ran\n")


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (_payload_ran, (self.marker,))


@pytest.fixture
def hostile(tmp_path):
    """A ``.pt`` whose unpickling calls :func:`_payload_ran`, and its marker file."""
    marker = tmp_path / "marker.txt"
    path = tmp_path / "hostile.pt"
    torch.save({"a.weight": torch.ones(2), "b.weight": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # proof the payload is real: unsafe loading runs it
    assert marker.read_text() == "the payload ran\n"
    marker.unlink()
    return path, marker


def _refusal(call) -> str:
    with pytest.raises(InputError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert "weights_only" not in message
    return message


def test_a_pickle_that_could_run_code_is_refused_in_one_line(hostile):
    path, marker = hostile
    for load in (load_arrays, load_checkpoint_state):
        message = _refusal(lambda load=load: load(path))
        assert message.startswith(f"{path}: not a plain tensor file (it holds Python objects ")
        assert message.endswith("ispengine loads tensors only)")
        assert "_payload_ran" in message
    assert not marker.exists()


def test_a_training_checkpoint_holding_code_is_refused_in_one_line(hostile):
    from ispengine.learning.training import read_checkpoint

    path, marker = hostile
    message = _refusal(lambda: read_checkpoint(path))
    assert message.startswith(f"{path}: not a plain tensor file")
    assert not marker.exists()


def test_other_unreadable_torch_files_give_one_line_without_unsafe_advice(tmp_path):
    import pickle

    cases = {
        "objects.pt": pickle.dumps({"a": {1, 2}}),  # a set: not loadable as weights
        "random.pt": bytes(range(256)) * 3,
        "empty.pt": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        message = _refusal(lambda name=name: load_arrays(tmp_path / name))
        assert message.startswith(f"{tmp_path / name}: cannot read weights ("), message


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (-np.inf, "Inf")])
def test_weights_with_nan_or_inf_are_refused_at_load_naming_the_tensor(tmp_path, suffix, bad, word):
    weight = np.ones((2, 3), dtype=np.float32)
    weight[1, 2] = bad
    arrays = {"encoder.0.bias": np.zeros(2), "encoder.0.weight": weight, "steps": np.array(3)}
    path = save_arrays(tmp_path / f"w{suffix}", arrays)
    expected = f"{path}: tensor 'encoder.0.weight' contains {word}"
    assert _refusal(lambda: load_arrays(path)) == expected
    assert _refusal(lambda: load_checkpoint_state(path)) == expected
    if suffix == ".pt":  # nested by a training framework, with DataParallel's prefix
        nested = tmp_path / "nested.pth"
        torch.save(
            {"params": {f"module.{k}": torch.as_tensor(v) for k, v in arrays.items()}}, nested
        )
        assert _refusal(lambda: load_checkpoint_state(nested)) == (
            f"{nested}: tensor 'encoder.0.weight' contains {word}"
        )


def test_a_training_checkpoint_with_nan_weights_is_refused(tmp_path):
    from ispengine.learning.training import read_checkpoint, save_checkpoint

    module = torch.nn.Linear(2, 2)
    with torch.no_grad():
        module.bias[0] = float("nan")
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    path = save_checkpoint(
        tmp_path / "run.ckpt", step=3, losses=[1.0], modules={"net": module}, optimizer=optimizer
    )
    assert _refusal(lambda: read_checkpoint(path)) == f"{path}: tensor 'net.bias' contains NaN"


@pytest.fixture
def saved_cycleisp(tmp_path):
    """A saved ``cycleisp`` method (settings JSON + ``.pt`` weights) and its state."""
    from plugins_builtin.cycleisp.method import CycleISP

    method = CycleISP(config="small")
    method.networks(seed=1)
    (tmp_path / "model").mkdir()
    settings = method.save(tmp_path / "model" / "cycleisp.pt")
    return settings, {k: v.detach().numpy() for k, v in method.state().items()}


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    write_image(path, np.random.default_rng(0).uniform(0.05, 0.95, size=(16, 24, 3)))
    return path


def _cli_fails(capsys, argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ispengine: error: "), err
    assert "weights_only" not in err and "Traceback" not in err
    return lines[0].removeprefix("ispengine: error: ")


def test_unprocess_refuses_hostile_weights_in_one_line(saved_cycleisp, photo, tmp_path, capsys):
    settings, state = saved_cycleisp
    marker = tmp_path / "marker.txt"
    weights = settings.with_suffix(".pt")
    torch.save({**{k: torch.as_tensor(v) for k, v in state.items()}, "x": Payload(marker)}, weights)
    out = tmp_path / "raw.npy"
    argv = ["unprocess", "--method", "cycleisp", "--weights", settings, photo, out]
    line = _cli_fails(capsys, argv)
    assert line.startswith(f"{weights}: not a plain tensor file (it holds Python objects ")
    assert not marker.exists() and not out.exists()


def test_unprocess_refuses_nan_weights_naming_the_tensor(saved_cycleisp, photo, tmp_path, capsys):
    settings, state = saved_cycleisp
    name = sorted(k for k, v in state.items() if v.ndim == 4)[0]
    state[name] = np.full_like(state[name], np.nan)
    weights = settings.with_suffix(".pt")
    save_arrays(weights, state)
    document = json.loads(settings.read_text())
    assert document["weights"] == weights.name
    out = tmp_path / "raw.npy"
    line = _cli_fails(
        capsys, ["unprocess", "--method", "cycleisp", "--weights", settings, photo, out]
    )
    assert line == f"{weights}: tensor '{name}' contains NaN"
    assert not out.exists()
