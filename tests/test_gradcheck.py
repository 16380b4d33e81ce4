"""The gradient checker is itself an oracle, so it gets tests of its own."""
import numpy as np
import pytest

from backprop_ref.gradcheck import check_gradients, compare_gradient, numerical_gradient, relative_error


def test_numerical_gradient_of_known_functions(xp, rng):
    x = xp.asarray(rng.normal(size=(3, 4)))
    np.testing.assert_allclose(np.asarray(numerical_gradient(lambda x: xp.sin(x).sum(), x)), np.cos(np.asarray(x)), rtol=1e-8)
    A, dout = rng.normal(size=(4, 2)), rng.normal(size=(3, 2))
    g = numerical_gradient(lambda x: x @ xp.asarray(A), x, dout=xp.asarray(dout))
    np.testing.assert_allclose(np.asarray(g), dout @ A.T, rtol=1e-7, atol=1e-9)


def test_input_is_restored_after_checking(rng):
    x = rng.normal(size=(2, 3))
    before = x.copy()
    numerical_gradient(lambda x: (x**2).sum(), x)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_low_precision_is_refused_with_the_fix(dtype):
    with pytest.raises(TypeError, match=rf"x has dtype {np.dtype(dtype).name}; gradient checking needs float64 .* x.astype\('float64'\)"):
        numerical_gradient(lambda x: x.sum(), np.ones(3, dtype=dtype))
    with pytest.raises(TypeError, match=rf"W has dtype {np.dtype(dtype).name}"):
        check_gradients(lambda: 0.0, {"W": np.ones(3, dtype=dtype)}, {"W": np.ones(3)})


def test_relative_error_formula():
    np.testing.assert_allclose(relative_error([1.0, 0.0, 3.0], [1.1, 0.0, -3.0]), [0.1 / 2.1, 0.0, 1.0])


def test_report_names_parameter_worst_entry_both_values_and_count(rng):
    W = rng.normal(size=(3, 4))
    good = np.cos(W)
    bad = good.copy()
    bad[2, 1] += 0.5
    bad[0, 0] += 1e-3
    report = check_gradients(lambda: np.sin(W).sum(), {"W": W}, {"W": bad})
    assert not report.passed
    check = report["W"]
    assert (check.worst_index, check.n_bad, check.n_total) == ((2, 1), 2, 12)
    assert check.analytic == pytest.approx(good[2, 1] + 0.5) and check.numeric == pytest.approx(good[2, 1], rel=1e-8)
    assert f"FAIL dW: max relative error {check.max_rel_error:.2e}; 2 of 12 entries disagree; worst at (2, 1)" in str(report)
    assert check_gradients(lambda: np.sin(W).sum(), {"W": W}, {"W": good}).passed


def test_entries_that_are_zero_up_to_rounding_do_not_fail():
    check = compare_gradient("b", np.array([1e-13, 1.0]), np.array([-1e-13, 1.0]))
    assert check.passed and check.max_rel_error == 0.0


def test_non_finite_analytic_gradient_fails():
    check = compare_gradient("b", np.array([np.nan, 1.0]), np.array([0.5, 1.0]))
    assert not check.passed and check.worst_index == (0,)


def test_wrong_gradient_shape_is_described():
    with pytest.raises(ValueError, match=r"gradient of W has shape \(4, 3\), expected \(3, 4\)"):
        compare_gradient("W", np.ones((4, 3)), np.ones((3, 4)))


def test_missing_gradient_is_named(rng):
    with pytest.raises(ValueError, match=r"no analytic gradient given for \['b'\]"):
        check_gradients(lambda: 0.0, {"W": np.ones(2), "b": np.ones(2)}, {"W": np.ones(2)})
