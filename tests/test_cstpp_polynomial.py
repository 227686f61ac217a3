"""CSTPP's polynomial transform: the 14 terms, the identity, numpy = torch = the formula,
and the ``polynomial_transform`` stage in packed-RAW pipelines (Python and CLI)."""

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ispengine import Pipeline, PluginHost
from ispengine.cli import main
from ispengine.core.errors import ParamError
from ispengine.testing import stage_examples
from plugins_builtin.cstpp.polynomial import (
    COEFFICIENT_RANGE,
    TERMS,
    PolynomialTransform,
    apply_polynomial,
    identity_coefficients,
    polynomial_features,
)

PACKED = {"name": "poly", "input": "packed_raw", "output": "packed_raw"}


def by_hand(x: np.ndarray, coefficients: np.ndarray, residual: bool) -> np.ndarray:
    """``PT(x) · T`` with the 14 terms written out (R, Gr, Gb, B = r, g, h, b)."""
    r, g, h, b = (x[..., k] for k in range(4))
    terms = [r * r, g * g, h * h, b * b, r * g, r * h, r * b, g * h, g * b, h * b, r, g, h, b]
    mapped = np.einsum("...k,...kc->...c", np.stack(terms, axis=-1), coefficients)
    return x + mapped if residual else mapped


def test_the_14_terms_are_4_squares_6_cross_products_and_4_linear_terms():
    assert len(TERMS) == 14 and len(set(TERMS)) == 14
    assert [t for t in TERMS if len(t) == 2 and t[0] == t[1]] == [(i, i) for i in range(4)]
    cross = [t for t in TERMS if len(t) == 2 and t[0] != t[1]]
    assert cross == list(combinations(range(4), 2))
    assert (0, 3) in cross  # R·B, which the released code drops
    assert [t for t in TERMS if len(t) == 1] == [(i,) for i in range(4)]
    assert () not in TERMS  # no constant term
    features = polynomial_features(np.array([2.0, 3.0, 5.0, 7.0]), np)
    assert features.tolist() == [4, 9, 25, 49, 6, 10, 14, 15, 21, 35, 2, 3, 5, 7]


@pytest.mark.parametrize("residual", [False, True])
def test_identity_coefficients_give_back_the_input(residual):
    x = np.random.default_rng(0).uniform(0, 1, (3, 5, 4))
    identity = identity_coefficients(residual)
    assert identity.shape == (14, 4)
    np.testing.assert_array_equal(apply_polynomial(x, identity, residual, np), x)
    stage = PolynomialTransform(residual=residual)  # the default is the identity of the form
    np.testing.assert_allclose(stage(x), x, atol=1e-15)


@settings(max_examples=40)
@given(data=st.data(), residual=st.booleans())
def test_numpy_torch_and_the_formula_agree(data, residual):
    example = data.draw(stage_examples(PolynomialTransform))
    coefficients = example.values["coefficients"]
    assert COEFFICIENT_RANGE[0] <= coefficients.min() <= coefficients.max() <= COEFFICIENT_RANGE[1]
    stage = PolynomialTransform(residual=residual)
    image = example.image
    expected = by_hand(image, coefficients, residual)
    np.testing.assert_allclose(stage(image, {"coefficients": coefficients}), expected, atol=1e-12)
    torch = pytest.importorskip("torch")
    values = torch.as_tensor(coefficients)
    got = stage(torch.as_tensor(image), {"coefficients": values})
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def test_per_image_coefficients_broadcast_over_a_batch():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, 3, 4, 4))
    coefficients = rng.uniform(-2, 2, (2, 14, 4))
    got = PolynomialTransform()(x, {"coefficients": coefficients})
    for k in range(2):
        np.testing.assert_allclose(got[k], by_hand(x[k], coefficients[k], False), atol=1e-12)


def test_the_transform_is_differentiable_in_image_and_coefficients():
    torch = pytest.importorskip("torch")
    import array_api_compat

    x = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    coefficients = torch.randn(2, 3, 14, 4, dtype=torch.float64, requires_grad=True)
    xp = array_api_compat.array_namespace(x)
    assert torch.autograd.gradcheck(
        lambda a, t: apply_polynomial(a, t, True, xp), (x, coefficients)
    )


def test_out_of_range_coefficients_are_refused_in_one_line():
    with pytest.raises(ParamError, match=r"coefficients: value 17 is outside .*\[-16, 16\]"):
        PolynomialTransform(coefficients=np.full((14, 4), 17.0))


def test_the_stage_is_registered_and_listed(capsys):
    record = PluginHost().registry.get("stage", "polynomial_transform")
    assert record.cls is PolynomialTransform and record.plugin == "cstpp"
    assert main(["stages"]) == 0
    line = next(s for s in capsys.readouterr().out.splitlines() if "polynomial_transform" in s)
    assert "packed->packed" in line and "residual=true | false" in line


def test_a_packed_pipeline_runs_with_per_pixel_coefficients():
    pipeline = Pipeline.from_dict({**PACKED, "stage": [{"type": "polynomial_transform"}]})
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (2, 5, 3, 4)).astype(np.float32)
    maps = rng.uniform(-16, 16, (2, 5, 3, 14, 4))
    got = pipeline(x, {"polynomial_transform": {"coefficients": maps}})
    assert got.dtype == np.float32
    np.testing.assert_allclose(
        got, by_hand(x.astype(np.float64), maps, False), rtol=1e-5, atol=1e-4
    )
    one = pipeline(x[0], {"polynomial_transform": {"coefficients": maps[0]}})
    np.testing.assert_allclose(one, got[0], rtol=1e-6)


def test_a_toml_spec_runs_from_the_cli(tmp_path):
    coefficients = identity_coefficients(False) * 0.5
    coefficients[6, 0] = 0.25  # R·B into R
    rows = ", ".join("[" + ", ".join(f"{v:g}" for v in row) + "]" for row in coefficients)
    spec = tmp_path / "poly.toml"
    spec.write_text(
        'schema = 1\nname = "poly"\ninput = "packed_raw"\noutput = "packed_raw"\n'
        f'[[stage]]\ntype = "polynomial_transform"\nparams = {{ coefficients = [{rows}] }}\n'
    )
    x = np.random.default_rng(3).uniform(0, 1, (7, 9, 4))
    np.save(tmp_path / "in.npy", x)
    assert main(["run", str(spec), str(tmp_path / "in.npy"), str(tmp_path / "out.npy")]) == 0
    out = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out, by_hand(x, coefficients, False), atol=1e-12)
    np.testing.assert_allclose(out[..., 0], 0.5 * x[..., 0] + 0.25 * x[..., 0] * x[..., 3])
