"""Mutation suite for the basics exercises (one_weight_grad, gradient_descent, graph_backward, numerical_gradient): realistic
wrong answers fail and are named, correct ones written in other styles pass."""
import math

import numpy as np
import pytest

from backprop_ref.gradcheck import numerical_gradient as reference_numerical_gradient
from backprop_ref.grading import get_exercise, grade
from backprop_ref.grading.core import _compare_arrays
from mutants import IN_PLACE, assert_fails_naming, assert_passes, soak


# one_weight_grad -------------------------------------------------------------------------------
def one_weight_mean(w, x, t):
    return np.mean((w * x - t) * x)


def one_weight_loop(w, x, t):
    total = 0.0
    for xi, ti in zip(x, t):
        total += (w * xi - ti) * xi
    return total / len(x)


def one_weight_expanded(w, x, t):
    """(1/N) * (w * sum(x**2) - sum(x * t)), as a 0-d array."""
    return np.asarray((w * (x @ x) - x @ t) / x.size)


def one_weight_float32(w, x, t):
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    return float(np.mean((np.float32(w) * x32 - t32) * x32))


ONE_WEIGHT_CORRECT = [one_weight_mean, one_weight_loop, one_weight_expanded, one_weight_float32]


@pytest.mark.parametrize("impl", ONE_WEIGHT_CORRECT)
def test_one_weight_grad_correct_variants_pass(impl):
    assert_passes("one_weight_grad", impl)


ONE_WEIGHT_MUTANTS = {
    "sign": (lambda w, x, t: np.mean((t - w * x) * x), "the sign is flipped"),
    "no factor x": (lambda w, x, t: np.mean(w * x - t), "the factor x is missing"),
    "sum, no 1/N": (lambda w, x, t: np.sum((w * x - t) * x), "the 1/N is missing"),
    "1/N twice": (lambda w, x, t: np.mean((w * x - t) * x) / len(x), "divided by N twice"),
    "no 1/2": (lambda w, x, t: np.mean(2 * (w * x - t) * x), "twice the gradient"),
    "product of means": (lambda w, x, t: np.mean(w * x - t) * np.mean(x), "multiplied two means"),
    "returns E": (lambda w, x, t: np.mean((w * x - t) ** 2) / 2, "returned the error E itself"),
    "per-example gradients": (lambda w, x, t: (w * x - t) * x, None),
    "x squared": (lambda w, x, t: np.mean((w * x - t) * x * x), None),
}


@pytest.mark.parametrize("name", ONE_WEIGHT_MUTANTS)
def test_one_weight_grad_mutants_fail_with_their_name(name):
    impl, mistake = ONE_WEIGHT_MUTANTS[name]
    assert_fails_naming("one_weight_grad", impl, mistake)


def test_one_weight_grad_takes_a_number_and_wants_one_back():
    """w is a Python float; dw may be a float or a 0-d array, but not an array of one entry."""
    case = get_exercise("one_weight_grad").make_case(np.random.default_rng(0), {"N": 3})
    assert isinstance(case.args[0], float) and case.reference["dw"].shape == ()
    result = grade("one_weight_grad", lambda w, x, t: np.array([one_weight_mean(w, x, t)]))
    assert not result.passed and "dw has shape (1,), expected () = one number" in str(result)


# gradient_descent: w = w - lr * dE/dw, steps times, every weight kept ----------------------------------
def descent_list(w, x, t, lr, steps):
    ws = [w]
    for _ in range(steps):
        w = w - lr * np.mean((w * x - t) * x)
        ws.append(w)
    return ws


def descent_preallocated(w, x, t, lr, steps):
    ws = np.empty(steps + 1)
    ws[0] = w
    for k in range(steps):
        ws[k + 1] = ws[k] - lr * one_weight_loop(ws[k], x, t)
    return ws


def descent_closed_form(w, x, t, lr, steps):
    """E is a parabola in w, so w_k - w* = (1 - lr * mean(x**2))**k * (w_0 - w*)."""
    best = (x @ t) / (x @ x)
    return best + (1 - lr * np.mean(x * x)) ** np.arange(steps + 1) * (w - best)


def descent_float32(w, x, t, lr, steps):
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    ws = [np.float32(w)]
    for _ in range(steps):
        ws.append(ws[-1] - np.float32(lr) * np.mean((ws[-1] * x32 - t32) * x32))
    return np.array(ws)


DESCENT_CORRECT = [descent_list, descent_preallocated, descent_closed_form, descent_float32]


@pytest.mark.parametrize("impl", DESCENT_CORRECT)
def test_gradient_descent_correct_variants_pass(impl):
    assert_passes("gradient_descent", impl)


def _descent_variant(**change):
    """One loop of gradient descent with one thing changed."""

    def impl(w, x, t, lr, steps):
        c = dict(sign=-1, mean=True, keep="all", first_grad=False, factor_x=True, one_at_a_time=False)
        c.update(change)
        ws = [w]
        dw0 = np.mean((w * x - t) * x)
        for _ in range(steps + (c["keep"] == "one ahead")):
            if c["one_at_a_time"]:  # a step per example: stochastic, not the gradient of E
                for xn, tn in zip(x, t):
                    w = w - lr * (w * xn - tn) * xn
            else:
                e = (w * x - t) * (x if c["factor_x"] else 1)
                dw = dw0 if c["first_grad"] else (np.mean(e) if c["mean"] else np.sum(e))
                w = w + c["sign"] * lr * dw
            ws.append(w)
        return {"all": ws, "final": w, "no ws[0]": ws[1:], "one ahead": ws[1:]}[c["keep"]]

    return impl


DESCENT_MUTANTS = {
    "ascends": (_descent_variant(sign=1), "the weights climb the error"),
    "sum, no 1/N": (_descent_variant(mean=False), "the 1/N is missing from the gradient"),
    "only the final weight": (_descent_variant(keep="final"), "returned only the final weight"),
    "ws[0] dropped": (_descent_variant(keep="no ws[0]"), "ws[0] is missing"),
    "one step ahead": (_descent_variant(keep="one ahead"), "ws is one step ahead"),
    "the first gradient reused": (_descent_variant(first_grad=True), "uses the gradient at the starting w"),
    "no factor x": (_descent_variant(factor_x=False), None),
    "a step per example": (_descent_variant(one_at_a_time=True), None),
}


@pytest.mark.parametrize("name", DESCENT_MUTANTS)
def test_gradient_descent_mutants_fail_with_their_name(name):
    impl, mistake = DESCENT_MUTANTS[name]
    assert_fails_naming("gradient_descent", impl, mistake)


def test_gradient_descent_cases_move_at_every_step_and_converge():
    """Every step moves w by a visible amount toward the least-squares weight, never past it: slips show at ws[1]."""
    exercise = get_exercise("gradient_descent")
    rng = np.random.default_rng(0)
    for _ in range(20):
        for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
            case = exercise.make_case(rng, dims)
            w, x, t, lr, steps = case.args
            ws = case.reference["ws"]
            best = (x @ t) / (x @ x)
            assert ws.shape == (steps + 1,) and ws[0] == w and isinstance(steps, int)
            gaps = np.abs(ws - best)
            assert np.all(gaps[1:] < 0.91 * gaps[:-1]) and np.all(gaps[1:] > 0.39 * gaps[:-1])
            assert np.all(np.sign(ws - best) == np.sign(w - best))


def test_gradient_descent_takes_a_list_or_an_array():
    """A list of floats is what a learner's loop builds; the grader reads it as an array."""
    assert grade("gradient_descent", descent_list).passed
    assert grade("gradient_descent", lambda *args: np.array(descent_list(*args))).passed
    assert grade("gradient_descent", lambda *args: tuple(descent_list(*args))).passed


# graph_backward: f = sigmoid(x * y + z) * x -----------------------------------------------------
def sigmoid(q):
    return 1 / (1 + np.exp(-q))


def graph_staged(x, y, z, dout):
    q = x * y + z
    s = sigmoid(q)
    ds = dout * x
    dq = ds * s * (1 - s)
    return dq * y + dout * s, dq * x, dq


def graph_accumulating(x, y, z, dout):
    """micrograd style: each use of x adds its share into dx."""
    s = 0.5 * (1 + np.tanh(0.5 * (x * y + z)))
    dx = np.zeros_like(x)
    dx += dout * s  # f = s * x, the direct use of x
    dq = (dout * x) * s * (1 - s)
    dx += dq * y  # q = x * y + z
    return dx, dq * x, dq.copy()


def graph_loops(x, y, z, dout):
    dx, dy, dz = np.zeros_like(x), np.zeros_like(y), np.zeros_like(z)
    for i in np.ndindex(*x.shape):
        s = 1 / (1 + math.exp(-(x[i] * y[i] + z[i])))
        dq = dout[i] * x[i] * s * (1 - s)
        dx[i], dy[i], dz[i] = dq * y[i] + dout[i] * s, dq * x[i], dq
    return dx, dy, dz


def graph_float32(x, y, z, dout):
    return graph_staged(*(a.astype(np.float32) for a in (x, y, z, dout)))


GRAPH_CORRECT = [graph_staged, graph_accumulating, graph_loops, graph_float32]


@pytest.mark.parametrize("impl", GRAPH_CORRECT)
def test_graph_backward_correct_variants_pass(impl):
    assert_passes("graph_backward", impl)


def graph_overwriting(x, y, z, dout):
    """Like graph_accumulating, but the second path replaces the first."""
    s = sigmoid(x * y + z)
    dx = dout * s
    dq = (dout * x) * s * (1 - s)
    dx = dq * y
    return dx, dq * x, dq


def _graph_variant(**change):
    def impl(x, y, z, dout):
        c = dict(paths="both", local="s(1-s)", ds="dout*x", swap=False, dout=True, sign=1, dz="dq")
        c.update(change)
        dout = dout if c["dout"] else np.ones_like(dout)
        q = x * y + z
        s = sigmoid(q)
        ds = dout * x if c["ds"] == "dout*x" else dout
        local = {"s(1-s)": s * (1 - s), "s": s, "q(1-q)": q * (1 - q)}[c["local"]]
        dq = ds * local
        a, b = (x, y) if c["swap"] else (y, x)
        through_q, direct = dq * a, dout * s
        dx = {"both": through_q + direct, "q": through_q, "direct": direct}[c["paths"]]
        dz = dq if c["dz"] == "dq" else ds
        return c["sign"] * dx, c["sign"] * dq * b, c["sign"] * dz

    return impl


GRAPH_MUTANTS = {
    "dx only through q": (_graph_variant(paths="q"), "dx has only the path through q"),
    "dx only direct": (_graph_variant(paths="direct"), "dx has only the direct path"),
    "x and y swapped": (_graph_variant(swap=True), "local gradients of x * y are swapped"),
    "sigmoid slope s": (_graph_variant(local="s"), "yours uses s alone"),
    "sigmoid slope on q": (_graph_variant(local="q(1-q)"), "is evaluated on q, not on s"),
    "ds without x": (_graph_variant(ds="dout"), "yours leaves out x"),
    "dout ignored": (_graph_variant(dout=False), "dout is ignored"),
    "signs flipped": (_graph_variant(sign=-1), "the signs are flipped"),
    "dz skips the sigmoid": (_graph_variant(dz="ds"), None),
    "dx overwritten, not added": (graph_overwriting, "dx has only the path through q"),
}


@pytest.mark.parametrize("name", GRAPH_MUTANTS)
def test_graph_backward_mutants_fail_with_their_name(name):
    impl, mistake = GRAPH_MUTANTS[name]
    assert_fails_naming("graph_backward", impl, mistake)


def test_graph_backward_partial_credit_for_the_single_use_inputs():
    """Forgetting one path through x costs dx's 2 points, not dy's and dz's."""
    result = grade("graph_backward", _graph_variant(paths="q"))
    assert [(p.name, p.passed) for p in result.parts] == [("dz", True), ("dy", True), ("dx", False)]
    assert (result.score, result.max_score) == (2, 4)


# numerical_gradient ----------------------------------------------------------------------------
def numgrad_ndindex(f, x, dout, h):
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dout)
        x[i] = old - h
        minus = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numgrad_copies(f, x, dout, h):
    grad = np.zeros(x.shape)
    for i in range(x.size):
        x_plus, x_minus = x.copy(), x.copy()
        x_plus.flat[i] += h
        x_minus.flat[i] -= h
        grad.flat[i] = np.sum((f(x_plus) - f(x_minus)) * dout) / (2 * h)
    return grad


def numgrad_flat_view(f, x, dout, h):
    flat = x.reshape(-1)  # a view: writing flat[k] writes x
    grad = np.empty(flat.size)
    for k in range(flat.size):
        flat[k] += h
        plus = float((f(x) * dout).sum())
        flat[k] -= 2 * h
        minus = float((f(x) * dout).sum())
        flat[k] += h
        grad[k] = (plus - minus) / (2 * h)
    return grad.reshape(x.shape)


def numgrad_nditer(f, x, dout, h):
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i].copy()
        x[i] = old + h
        plus = f(x).copy()  # copy: f might hand back a view of something that changes
        x[i] = old - h
        minus = f(x).copy()
        x[i] = old
        grad[i] = np.vdot(plus - minus, dout) / (2 * h)
        it.iternext()
    return grad


NUMGRAD_CORRECT = [numgrad_ndindex, numgrad_copies, numgrad_flat_view, numgrad_nditer]


@pytest.mark.parametrize("impl", NUMGRAD_CORRECT)
def test_numerical_gradient_correct_variants_pass(impl):
    assert_passes("numerical_gradient", impl)


def _numgrad_variant(**change):
    """One loop over the entries of x with one thing changed."""

    def impl(f, x, dout, h):
        c = dict(scheme="central", denominator=2, restore=True, dout=True, order="plus first")
        c.update(change)
        weights = dout if c["dout"] else 1.0
        g = lambda: float(np.sum(f(x) * weights))  # noqa: E731
        grad = np.zeros(x.shape)
        for i in np.ndindex(*x.shape):
            old = x[i]
            if c["scheme"] == "forward":
                base = g()
                x[i] = old + h
                grad[i] = (g() - base) / h
            elif c["scheme"] == "backward":
                base = g()
                x[i] = old - h
                grad[i] = (base - g()) / h
            else:
                x[i] = old + h
                plus = g()
                x[i] = old - h
                minus = g()
                diff = plus - minus if c["order"] == "plus first" else minus - plus
                grad[i] = diff / (c["denominator"] * h)
            if c["restore"]:
                x[i] = old
        return grad

    return impl


def numgrad_alias_both_after(f, x, dout, h):
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        x_plus = x  # not a copy
        x_plus[i] += h
        x_minus = x
        x_minus[i] -= h
        grad[i] = (np.sum(f(x_plus) * dout) - np.sum(f(x_minus) * dout)) / (2 * h)
    return grad


def numgrad_alias_in_turn(f, x, dout, h):
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        x_plus = x  # not a copy
        x_plus[i] += h
        plus = np.sum(f(x_plus) * dout)
        x_minus = x
        x_minus[i] -= h  # back to x itself
        minus = np.sum(f(x_minus) * dout)
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numgrad_first_axis(f, x, dout, h):
    grad = np.zeros_like(x)
    for i in range(len(x)):
        x[i] += h
        plus = np.sum(f(x) * dout)
        x[i] -= 2 * h
        minus = np.sum(f(x) * dout)
        x[i] += h
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numgrad_all_at_once(f, x, dout, h):
    return np.full(x.shape, (np.sum(f(x + h) * dout) - np.sum(f(x - h) * dout)) / (2 * h))


def numgrad_last_left_moved(f, x, dout, h):
    """Right numbers, but the last entry of the caller's x is left at x - h."""
    grad = np.zeros(x.shape)
    indices = list(np.ndindex(*x.shape))
    for i in indices:
        old = x[i]
        x[i] = old + h
        plus = float(np.sum(f(x) * dout))
        x[i] = old - h
        minus = float(np.sum(f(x) * dout))
        if i != indices[-1]:
            x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad


def numgrad_two_loops(f, x, dout, h):
    """Right for matrices only."""
    grad = np.zeros(x.shape)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            old = x[i, j]
            x[i, j] = old + h
            plus = float(np.sum(f(x) * dout))
            x[i, j] = old - h
            minus = float(np.sum(f(x) * dout))
            x[i, j] = old
            grad[i, j] = (plus - minus) / (2 * h)
    return grad


def numgrad_float32(f, x, dout, h):
    return numgrad_ndindex(f, x.astype(np.float32), dout, h)


def numgrad_own_big_step(f, x, dout, h):
    return numgrad_ndindex(f, x, dout, 1e-3)


NUMGRAD_MUTANTS = {
    "forward difference": (_numgrad_variant(scheme="forward"), "a forward difference"),
    "backward difference": (_numgrad_variant(scheme="backward"), "a backward difference"),
    "divides by h": (_numgrad_variant(denominator=1), "divide by 2 * h, not by h"),
    "minus first": (_numgrad_variant(order="minus first"), "the wrong way round"),
    "dout ignored": (_numgrad_variant(dout=False), "dout is ignored"),
    "x not restored": (_numgrad_variant(restore=False), IN_PLACE),
    "x not restored, in a copy": (lambda f, x, dout, h: _numgrad_variant(restore=False)(f, x.copy(), dout, h),
                                  "x is not restored"),
    "the last entry left moved": (numgrad_last_left_moved, IN_PLACE),
    "two loops (matrices only)": (numgrad_two_loops, None),
    "x_plus = x, both evaluated after": (numgrad_alias_both_after, "grad is all zeros"),
    "x_plus = x, evaluated in turn": (numgrad_alias_in_turn, "half of a one-sided difference"),
    "first axis only": (numgrad_first_axis, "runs over the first axis only"),
    "all entries at once": (numgrad_all_at_once, "every entry of x was moved at once"),
    "float32": (numgrad_float32, None),
    "its own step 1e-3": (numgrad_own_big_step, None),
}


@pytest.mark.parametrize("name", NUMGRAD_MUTANTS)
def test_numerical_gradient_mutants_fail_with_their_name(name):
    impl, mistake = NUMGRAD_MUTANTS[name]
    assert_fails_naming("numerical_gradient", impl, mistake)


def test_numerical_gradient_target_agrees_with_the_reference_checker():
    """The grader's exact gradient of its stiff test function is what backprop_ref.gradcheck's central
    difference gives with the learner's h; a forward difference is far outside the tolerance."""
    exercise = get_exercise("numerical_gradient")
    rng = np.random.default_rng(0)
    for _ in range(20):
        for dims in exercise.hidden_dims(rng):
            case = exercise.make_case(rng, dims)
            f, x, dout, h = case.args
            expected = case.targets["grad"].expected
            assert _compare_arrays("grad", reference_numerical_gradient(f, x.copy(), dout, h), expected).max_rel_error < 2e-5
            forward = _numgrad_variant(scheme="forward")(f, x.copy(), dout, h)
            assert _compare_arrays("grad", forward, expected).max_rel_error > 5e-4


# many seeds ----------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "exercise_id, mutants, correct",
    [
        ("one_weight_grad", ONE_WEIGHT_MUTANTS, ONE_WEIGHT_CORRECT),
        ("gradient_descent", DESCENT_MUTANTS, DESCENT_CORRECT),
        ("graph_backward", GRAPH_MUTANTS, GRAPH_CORRECT),
        ("numerical_gradient", NUMGRAD_MUTANTS, NUMGRAD_CORRECT),
    ],
)
def test_basics_verdicts_over_200_hidden_seeds(exercise_id, mutants, correct):
    soak(exercise_id, mutants, correct)
