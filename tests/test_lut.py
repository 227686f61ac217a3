"""LUT inverses: accuracy against the reference over whole parameter ranges, backends, cache."""

import multiprocessing
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ispengine import ParamError, Pipeline, PluginHost, SpecError, Stage, get_registry, hookimpl
from ispengine.core.params import PER_CHANNEL, ParamSpec
from ispengine.lut.cache import load_or_build, table_path
from ispengine.lut.inverse import lut_inverse_of
from ispengine.lut.table import LutGrid, build_lut_table

LUT_INVERSES = [r for r in get_registry().records("inverse_stage") if r.method == "lut"]
BACKENDS = [r.name for r in get_registry().records("lut_backend") if r.cls.available()]
# A small grid keeps the local-path tests fast; Newton steps make up for it.
SMALL = {"param_points": None, "output_points": 64, "newton_steps": 4}
TOLERANCE = {"float64": 1e-9, "float32": 2e-6}


def _arrays_for(backend):
    """``(put, get)``: how a test hands arrays to ``backend`` and reads its results back.

    Each backend takes only the arrays it is for (the ``cupy`` one refuses numpy
    arrays), so the CuPy backend gets ``cupy.asarray`` inputs."""
    if backend == "cupy":
        import cupy

        return cupy.asarray, cupy.asnumpy
    return np.asarray, np.asarray


def _small(record):
    count = len(record.cls.params)
    return {**SMALL, "param_points": [9, 7, 7][:count]}


def test_tone_curves_have_lut_inverses():
    assert {r.inverts for r in LUT_INVERSES} >= {"gamma_tone", "inverse_tone"}
    assert {"numpy", "numba"} <= set(BACKENDS)


def _draw_params(data, record, shape):
    return {
        spec.name: data.draw(
            st.lists(
                st.floats(spec.low, spec.high),
                min_size=int(np.prod(shape)),
                max_size=int(np.prod(shape)),
            ).map(lambda v, s=shape: np.reshape(v, s))
        )
        for spec in record.cls.forward.params
    }


def _y_error(forward, x, y):
    return float(np.max(np.abs(forward(x.astype(np.float64)) - y.astype(np.float64))))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("record", LUT_INVERSES, ids=lambda r: r.name)
@given(data=st.data())
def test_global_path_inverts_to_the_reference(record, backend, dtype, data):
    params = _draw_params(data, record, (3,))
    forward = record.cls.forward(**params)
    x = data.draw(st.lists(st.floats(-1, 1), min_size=12, max_size=12)).__iter__()
    x = np.reshape(list(x), (2, 2, 3))
    y = forward(x).astype(dtype)
    inverse = record.cls.from_forward(forward, backend=backend)
    put, get = _arrays_for(backend)
    restored = get(inverse(put(y)))
    assert restored.dtype == y.dtype
    assert _y_error(forward, restored, y) <= max(TOLERANCE[dtype], 1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("record", LUT_INVERSES, ids=lambda r: r.name)
@given(data=st.data())
def test_local_path_inverts_to_the_reference(record, backend, dtype, data):
    maps = _draw_params(data, record, (2, 3, 3))
    forward = record.cls.forward(**maps)
    x = np.reshape(data.draw(st.lists(st.floats(0, 1), min_size=18, max_size=18)), (2, 3, 3))
    y = forward(x).astype(dtype)
    put, get = _arrays_for(backend)
    restored = get(record.cls.from_forward(forward, backend=backend, **_small(record))(put(y)))
    assert _y_error(forward, restored, y) <= max(TOLERANCE[dtype], 1e-6)


@pytest.mark.parametrize("record", LUT_INVERSES, ids=lambda r: r.name)
def test_backends_agree(record):
    rng = np.random.default_rng(3)
    maps = {s.name: rng.uniform(s.low, s.high, (8, 9, 3)) for s in record.cls.forward.params}
    forward = record.cls.forward(**maps)
    y = forward(rng.uniform(-1, 1, (8, 9, 3)))
    results = []
    for backend in BACKENDS:
        put, get = _arrays_for(backend)
        inverse = record.cls.from_forward(forward, backend=backend, **_small(record))
        results.append(get(inverse(put(y))))
    for other in results[1:]:
        assert np.allclose(other, results[0], atol=1e-12)


def test_targets_outside_the_curve_clip_to_the_domain_ends():
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    forward = GammaTone(g1=2.2, g2=0.8, k=0.3)
    top = float(forward(np.ones((1, 1, 3)))[0, 0, 0])
    y = np.array([[[top * 1.5, -top * 2, top]]])
    assert np.allclose(GammaToneLutInverse.from_forward(forward)(y), [[[1.0, -1.0, 1.0]]])


def test_lut_is_chosen_in_toml_with_its_settings():
    spec = {
        "stage": [{"type": "gain"}, {"type": "gamma_tone", "params": {"g1": 2.2, "g2": 0.7}}],
        "inverse": {"gamma_tone": {"method": "lut", "backend": "numba", "global_points": 4096}},
    }
    pipeline = Pipeline.from_dict(spec)
    inverse = pipeline.inverse()
    assert inverse.stages[0].name == "gamma_tone_lut_inverse"
    x = np.random.default_rng(0).uniform(0, 1, (5, 6, 3))
    assert np.max(np.abs(pipeline(inverse(pipeline(x))) - pipeline(x))) <= 1e-6


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"backend": "opencl"}, "backend: expected one of"),
        ({"output_points": 3}, "outside"),
        ({"param_points": [4, 4]}, "param_points: expected shape"),
    ],
)
def test_bad_lut_settings_are_spec_errors(settings, message):
    spec = {
        "stage": [{"type": "gamma_tone"}],
        "inverse": {"gamma_tone": {"method": "lut", **settings}},
    }
    with pytest.raises(SpecError, match=message):
        Pipeline.from_dict(spec)


def test_global_path_refuses_per_pixel_parameters():
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    forward = GammaTone(g1=np.full((2, 2, 3), 2.0))
    with pytest.raises(ParamError, match="path: 'global'"):
        GammaToneLutInverse.from_forward(forward, path="global")(np.full((2, 2, 3), 0.5))


def test_torch_falls_back_to_the_numerical_inverse():
    torch = pytest.importorskip("torch")
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    forward = GammaTone(g1=2.2)
    x = torch.rand(3, 4, 3, dtype=torch.float64)
    assert torch.allclose(GammaToneLutInverse.from_forward(forward)(forward(x)), x, atol=1e-12)


class Power(Stage):
    """A third-party monotone curve: x^gamma, declared LUT-invertible (no scalar kernels)."""

    name = "test_power"
    monotone = True
    params = (ParamSpec("gamma", PER_CHANNEL, 0.5, 3.0, default=1.0),)

    def apply(self, x, p, xp):
        return xp.clip(x, 0, None) ** p["gamma"]


def test_a_third_party_monotone_stage_gets_a_lut_inverse():
    PowerLut = lut_inverse_of(Power)
    plugin = type(
        "P",
        (),
        {
            "ispengine_register_stages": staticmethod(hookimpl(lambda register: register(Power))),
            "ispengine_register_inverse_stages": staticmethod(
                hookimpl(lambda register: register(PowerLut))
            ),
        },
    )
    host = PluginHost(load_entry_points=False)
    host.register(plugin, "power")
    assert host.registry.inverse_kind("test_power") == "lut"
    forward = Power(gamma=[0.5, 1.7, 3.0])
    x = np.random.default_rng(1).uniform(0, 1, (4, 4, 3))
    for backend in BACKENDS:
        put, get = _arrays_for(backend)
        for path, extra in (("global", {}), ("local", {"param_points": [16], "newton_steps": 0})):
            inverse = PowerLut.from_forward(forward, backend=backend, path=path, **extra)
            restored = get(inverse(put(forward(x))))
            assert np.max(np.abs(forward(restored) - forward(x))) <= 1e-3, (backend, path)


def test_a_non_monotone_stage_is_refused():
    with pytest.raises(TypeError, match="monotone"):
        lut_inverse_of(type("Wiggle", (Stage,), {"name": "wiggle", "params": Power.params}))


# -- cache ----------------------------------------------------------------------------------

TINY = LutGrid((3, 3, 3), 16)


def _gamma_tone():
    from plugins_builtin.function_stages.gamma_tone import GammaTone

    return GammaTone


def test_cache_round_trip_and_corrupt_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("ISPENGINE_CACHE_DIR", str(tmp_path))
    stage = _gamma_tone()
    built = load_or_build(stage, TINY)
    path = table_path(stage, TINY)
    assert path.exists() and str(path).startswith(str(tmp_path))
    assert np.array_equal(load_or_build(stage, TINY).nodes, built.nodes)
    path.write_bytes(b"not a table")
    with pytest.warns(UserWarning, match="corrupt or stale"):
        rebuilt = load_or_build(stage, TINY)
    assert np.array_equal(rebuilt.nodes, built.nodes)
    assert np.array_equal(load_or_build(stage, TINY).nodes, built.nodes)  # valid again


def test_cache_with_wrong_contents_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("ISPENGINE_CACHE_DIR", str(tmp_path))
    stage = _gamma_tone()
    good = load_or_build(stage, TINY)
    path = table_path(stage, TINY)
    with np.load(path) as data:
        key, nodes = str(data["key"]), data["nodes"].copy()
    nodes[0, 0, 0, 5] = np.nan
    with open(path, "wb") as handle:
        np.savez(handle, key=key, nodes=nodes, y_lo=good.y_lo, y_hi=good.y_hi)
    with pytest.warns(UserWarning):
        assert np.all(np.isfinite(load_or_build(stage, TINY).nodes))


def _build_in_subprocess(cache: str) -> bool:
    os.environ["ISPENGINE_CACHE_DIR"] = cache
    table = load_or_build(_gamma_tone(), LutGrid((4, 4, 4), 32))
    return bool(np.all(np.isfinite(table.nodes)))


def test_concurrent_builds_leave_a_valid_cache(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert all(pool.map(_build_in_subprocess, [str(tmp_path)] * 4))
    files = list((tmp_path / "lut").iterdir())
    assert len(files) == 1 and not files[0].name.startswith(".")
    reference = build_lut_table(_gamma_tone(), LutGrid((4, 4, 4), 32))
    with np.load(files[0]) as data:
        assert np.array_equal(data["nodes"], reference.nodes)


def test_cupy_backend_matches_numpy_on_a_gpu():
    cupy = pytest.importorskip("cupy")
    from plugins_builtin.lut_backends.cupy_backend import CupyLutBackend

    if not CupyLutBackend.available():
        pytest.skip("no CUDA device")
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    rng = np.random.default_rng(5)
    constant = GammaTone(g1=[2.2, 1.0, 3.0], g2=0.8, k=0.3)
    y = constant(rng.uniform(0, 1, (6, 7, 3)))
    on_gpu = GammaToneLutInverse.from_forward(constant)(cupy.asarray(y))
    assert isinstance(on_gpu, cupy.ndarray)
    on_cpu = GammaToneLutInverse.from_forward(constant, backend="numpy")(y)
    assert np.allclose(cupy.asnumpy(on_gpu), on_cpu, atol=1e-12)


def test_float32_octave_lookup_handles_edge_values():
    from plugins_builtin.function_stages.gamma_tone import GammaTone, GammaToneLutInverse

    forward = GammaTone(g1=[2.2, 0.5, 4.0], g2=[0.8, 0.6, 1.5], k=[0.3, 0.05, 1.0])
    top = forward(np.ones((1, 1, 3)))[0, 0]
    values = [0.0, 1e-30, 1e-9, 2.0**-48, 2.0**-24, 1e-4, 0.3, 0.999]
    rows = [np.outer(values, top), -np.outer(values, top), [top, top * 1.5, -top * 2.0]]
    y = np.concatenate(rows)[None].astype(np.float32)
    fast = GammaToneLutInverse.from_forward(forward, backend="numba")(y)
    reference = GammaToneLutInverse.from_forward(forward, backend="numpy")(y)
    assert fast.dtype == np.float32
    assert np.max(np.abs(fast - reference)) <= 2e-6
    assert np.allclose(fast[0, -3:], [[1, 1, 1], [1, 1, 1], [-1, -1, -1]])
