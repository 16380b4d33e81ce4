"""The gradient checker is itself an oracle, so it gets tests of its own."""
import numpy as np
import pytest

from backprop_ref.gradcheck import (
    assert_gradients_match, check_gradients, compare_gradient, numerical_gradient, relative_error,
)


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


# The directional check: k random directions per parameter instead of every coordinate.
# Every planted bug below has |error| >= 1e-3 |gradient| in the parameter it is planted in, so with
# rtol = 1e-5 and k = 8 directions the docstring's bound puts the chance of missing it below
# (1.6e-2)^8 = 5e-15 for any seed; the seeds are fixed anyway, so these tests are not flaky.
DIRECTIONS = 8


def _network(seed, sizes=(20, 30, 5), n=16, activation="tanh"):
    """A float64 MLP through the public API: its loss function, {name: W} and {name: dW}."""
    import backprop_ref as bp

    rng = np.random.default_rng(seed)
    weights = bp.init_mlp(list(sizes), rng, dtype=np.float64)
    x, y = rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], size=n)
    activations = [activation] * (len(weights) - 1) + ["identity"]
    _, grads = bp.mlp_loss(weights, x, y, activations)
    params = {f"W{l}": W for l, W in enumerate(weights)}
    return (lambda: bp.mlp_loss(weights, x, y, activations)[0]), params, {f"W{l}": dW for l, dW in enumerate(grads)}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_directional_check_passes_correct_mlp_gradients(seed):
    f, params, grads = _network(seed)
    before = {name: W.copy() for name, W in params.items()}
    report = check_gradients(f, params, grads, directions=DIRECTIONS, rng=seed)
    assert report.passed, str(report)
    assert all(c.n_total == DIRECTIONS and c.max_rel_error < 1e-6 for c in report.checks)
    for name, W in params.items():
        np.testing.assert_array_equal(W, before[name])  # every parameter restored exactly


@pytest.mark.parametrize("seed", [0, 2])
def test_directional_check_passes_a_wide_relu_network(seed):
    """A direction moves all 1e5 weights at once; with the coordinate step 1e-6 some of the 19200
    pre-activations would cross ReLU's kink (it fails on some of these seeds), DIRECTION_STEP does not."""
    f, params, grads = _network(seed, sizes=(300, 300, 10), n=64, activation="relu")
    report = check_gradients(f, params, grads, directions=DIRECTIONS, rng=seed)
    assert report.passed, str(report)


def _planted(grads, name, plant):
    bad = {k: g.copy() for k, g in grads.items()}
    plant(bad[name])
    return bad


def _scale(g):
    g *= 1.01


def _transpose_block(g):
    g[:8, :8] = g[:8, :8].T.copy()


def _drop_bias_row(g):
    g[-1] = 0.0  # the last row is the bias's


def _flip_sign(g):
    g *= -1.0


def _one_entry(g):
    g[3, 4] += 1e-3 * np.linalg.norm(g)


PLANTED = {  # name: (parameter, how the gradient is broken, where the error may be located)
    "scaled by 1.01": ("W0", _scale, lambda i: True),
    "transposed block": ("W0", _transpose_block, lambda i: i[0] < 8 and i[1] < 8),
    "missing bias row": ("W0", _drop_bias_row, lambda i: i[0] == 20),
    "one entry off by 1e-3 of the norm": ("W0", _one_entry, lambda i: i == (3, 4)),
    "sign flipped": ("W1", _flip_sign, lambda i: True),
}


@pytest.mark.parametrize("bug", PLANTED)
def test_directional_check_catches_and_locates_planted_bugs(bug):
    name, plant, where = PLANTED[bug]
    f, params, grads = _network(0)
    report = check_gradients(f, params, _planted(grads, name, plant), directions=DIRECTIONS, rng=7)
    assert [c.name for c in report.checks if not c.passed] == [name], str(report)
    check = report[name]
    assert where(check.worst_index), str(report)
    # the located entry is differenced alone: its two numbers are the broken and the true gradient there
    assert check.analytic == _planted(grads, name, plant)[name][check.worst_index]
    assert check.numeric == pytest.approx(grads[name][check.worst_index], rel=1e-6, abs=1e-10)
    assert f"of {DIRECTIONS} directions disagree; worst at {check.worst_index}" in str(report)


def test_directional_check_costs_two_forward_passes_per_direction_and_per_halving():
    f, params, grads = _network(0)
    calls = [0]

    def counted():
        calls[0] += 1
        return f()

    check_gradients(counted, params, grads, directions=3, rng=0)
    assert calls[0] == 2 * 3 * len(params)
    calls[0] = 0
    check_gradients(counted, {"W1": params["W1"]}, _planted(grads, "W1", _flip_sign), directions=3, rng=0)
    size = params["W1"].size
    assert calls[0] == 2 * 3 + 2 * int(np.ceil(np.log2(size))) + 2  # directions, halvings, the located entry


def test_directional_check_uses_dout_like_the_coordinate_check(xp, rng):
    W, A = xp.asarray(rng.normal(size=(30, 40))), xp.asarray(rng.normal(size=(40, 3)))
    dout = xp.asarray(rng.normal(size=(30, 3)))
    good = dout @ A.T
    assert check_gradients(lambda: W @ A, {"W": W}, {"W": good}, dout=dout, directions=4, rng=0).passed
    bad = good.copy()
    bad[5, 6] += 1e-2 * float(xp.linalg.norm(good))
    report = check_gradients(lambda: W @ A, {"W": W}, {"W": bad}, dout=dout, directions=4, rng=0)
    assert not report.passed and report["W"].worst_index == (5, 6)


def test_directional_check_flags_a_non_finite_gradient(rng):
    W = rng.normal(size=(4, 5))
    bad = np.cos(W)
    bad[2, 3] = np.nan
    check = check_gradients(lambda: np.sin(W).sum(), {"W": W}, {"W": bad}, directions=2, rng=0)["W"]
    assert not check.passed and check.worst_index == (2, 3) and check.numeric == pytest.approx(np.cos(W[2, 3]))


@pytest.mark.parametrize("directions, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_directional_check_refuses_a_bad_number_of_directions(directions, error):
    with pytest.raises(error, match=r"directions must be"):
        check_gradients(lambda: 0.0, {"W": np.ones(3)}, {"W": np.ones(3)}, directions=directions)


def test_directional_check_describes_bad_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"gradient of W has shape \(4, 3\), expected \(3, 4\)"):
        check_gradients(lambda: 0.0, {"W": np.ones((3, 4))}, {"W": np.ones((4, 3))}, directions=2)
    with pytest.raises(TypeError, match=r"W has dtype float32; gradient checking needs float64"):
        check_gradients(lambda: 0.0, {"W": np.ones(3, dtype=np.float32)}, {"W": np.ones(3)}, directions=2)
    with pytest.raises(TypeError, match=r"dout has dtype float32"):
        dout = np.ones(3, dtype=np.float32)
        check_gradients(lambda: np.ones(3), {"W": np.ones(3)}, {"W": np.ones(3)}, dout=dout, directions=2)


def test_assert_gradients_match_passes_directions_on(rng):
    W = rng.normal(size=(6, 7))
    assert_gradients_match(lambda: np.sin(W).sum(), {"W": W}, {"W": np.cos(W)}, directions=2, rng=0)
    with pytest.raises(AssertionError, match=r"FAIL dW: .* of 2 directions disagree"):
        assert_gradients_match(lambda: np.sin(W).sum(), {"W": W}, {"W": -np.cos(W)}, directions=2, rng=0)
