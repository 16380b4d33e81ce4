"""Mutation suite for relax, lesson 9's forward relaxation: realistic wrong versions fail and the report names
the known ones; correct versions written differently pass; an error the learner raises is judged the same in
the notebook and through the grader's sandbox. The slow test runs them all over 200 hidden seeds."""
import builtins

import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.fixed_point import fixed_point_forward
from backprop_ref.grading import grade
from backprop_ref.grading.core import _judge_case
from backprop_ref.grading.exercises import relaxation
from backprop_ref.sandbox.bubblewrap import remote_error
from mutants import assert_fails, assert_passes, soak


def test_the_graders_relaxation_is_the_reference_one(rng):
    """_relaxation's K is fixed_point_forward's iteration count, and its s_(K+1) the state that returns
    (fixed_point_forward steps once more to keep z* for the backward pass)."""
    x, U = relaxation._inputs(rng, 3, 2, 4)
    W = relaxation._contraction(rng, 4, 0.7)
    states, K = relaxation._relaxation(x, W, U, 1e-9, 1000)
    s, cache = fixed_point_forward(x, W, U, tol=1e-9)
    assert K == cache.iterations
    np.testing.assert_allclose(states[K + 1], s, rtol=0, atol=1e-15)


def test_the_reference_passes_its_own_targets():
    """On the visible cases and the hidden ones of a few seeds, the reference (the iterate s_K, raised where
    there is none) meets every target, and every kind of case is what it says."""
    exercise = relaxation.RELAX
    for seed in range(3):
        rng = np.random.default_rng(seed)
        for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
            case = exercise.make_case(rng, dims)
            assert ("s" in case.targets) == (dims["kind"] in ("settles", "slow", "exact")), case.label
            verdicts = _judge_case(exercise, case, dict(case.reference), rng)
            assert all(v.passed for v in verdicts.values()), (case.label, verdicts)


def _drive(x, U):
    return x @ U[:-1] + U[-1]


def relax_for(x, W, U, tol, max_iter):
    """A for loop that returns as soon as the change is below tol."""
    u = _drive(x, U)
    s = np.zeros((x.shape[0], W.shape[0]))
    for _ in range(max_iter):
        new = np.tanh(s @ W + u)
        change = np.abs(new - s).max()
        s = new
        if change < tol:
            return s
    raise bp.ConvergenceError(f"relax: no fixed point within {max_iter} iterations (last change {change:.3g})")


def relax_while(x, W, U, tol, max_iter):
    """A while loop on the change, with the bias as a constant-1 column, a plain RuntimeError."""
    x1 = np.hstack([x, np.ones((x.shape[0], 1))])
    s, k, change = np.zeros((x.shape[0], W.shape[1])), 0, np.inf
    while not change < tol:
        if k == max_iter:
            raise RuntimeError("relax did not converge")
        new = np.tanh(s @ W + x1 @ U)
        change, s, k = np.max(np.abs(new - s)), new, k + 1
    return s


def relax_checks_finite(x, W, U, tol, max_iter):
    """for ... else, the state checked for NaN first, the change as an inf-norm of the flattened difference."""
    u = x @ U[:-1] + U[-1:]
    s = np.zeros_like(u)
    for k in range(1, max_iter + 1):
        new = np.tanh(np.dot(s, W) + u)
        if not np.isfinite(new).all():
            raise bp.ConvergenceError(f"relax: the state is not finite after {k} iterations")
        if np.linalg.norm((new - s).ravel(), np.inf) < tol:
            break
        s = new
    else:
        raise bp.ConvergenceError(f"relax: not settled in {max_iter} iterations")
    return new


def relax_in_place(x, W, U, tol, max_iter):
    """Two buffers, written in place (the inputs are left alone), in float64 with einsum."""
    u = np.einsum("nd,dh->nh", x, U[:-1]) + U[-1]
    s, new = np.zeros(u.shape), np.empty(u.shape)
    for _ in range(max_iter):
        np.tanh(s @ W + u, out=new)
        settled = np.abs(new - s).max() < tol
        s, new = new, s
        if settled:
            return s.copy()
    raise bp.ConvergenceError("relax: not settled")


RELAX_CORRECT = [relax_for, relax_while, relax_checks_finite, relax_in_place]


@pytest.mark.parametrize("impl", RELAX_CORRECT)
def test_relax_correct_variants_pass(impl):
    assert_passes("relax", impl, seeds=(None, 1))


def _variant(early=False, late=False, bias=True, transpose=False, relative=False, fixed=False, silent=False,
             nan_passes=False, cap=0, test_state=False, error=None, start="zeros", own_tol=None, allclose=False):
    """relax_for with one twist; cap: how many iterations more (or fewer) than max_iter it allows; own_tol:
    a floor under the tol it is given (it stops at 1e-6 when asked for 1e-9); allclose: np.allclose(new, s, atol=tol) as the test (relative too)."""

    def impl(x, W, U, tol, max_iter):
        u = _drive(x, U) if bias else x @ U[:-1]
        M = W.T if transpose else W
        s = np.zeros((x.shape[0], W.shape[0])) if start == "zeros" else np.tanh(u)
        change = np.inf
        for _ in range(max_iter + cap):
            if nan_passes and not change > tol:
                return s
            new = np.tanh(s @ M + u)
            change = np.abs(new if test_state else new - s)
            change = (change / np.abs(new) if relative else change).max()
            if allclose and np.allclose(new, s, atol=tol):
                return new
            if change < max(tol, own_tol or 0) and not fixed and not allclose:
                return s if early else (np.tanh(new @ M + u) if late else new)
            s = new
        if silent or fixed or nan_passes and not change > tol:
            return s
        raise (error or bp.ConvergenceError)("relax: did not settle")

    return impl


RELAX_MUTANTS = {
    "returns s_(k-1)": (_variant(early=True), "returns s_(k-1), the state before"),
    "one step more": (_variant(late=True), "one step more after the change"),
    "no bias row": (_variant(bias=False), "the bias row of U is left out"),
    "W transposed": (_variant(transpose=True), "W is transposed"),
    "relative change": (_variant(relative=True), "measured relative to the state"),
    "all max_iter iterations": (_variant(fixed=True), "runs all max_iter iterations"),
    "silent when not settled": (_variant(silent=True), "returns the last state silently"),
    "while change > tol": (_variant(nan_passes=True), "a NaN change got past the test"),
    "one iteration too many": (_variant(cap=1), "the cap allows one iteration too many"),
    "one iteration too few": (_variant(cap=-1), "the cap allows one iteration too few"),
    # the engine's words: relax raised where the relaxation settles
    "tests the state, not its change": (_variant(test_state=True), "raised on inputs with"),
    "raises ValueError": (_variant(error=ValueError), "raise bp.ConvergenceError (a RuntimeError), and return s"),
    "starts from tanh(u)": (_variant(start="tanh(u)"), None),
    # judged to the precision tol asks, not to the checks' 1e-4
    "stops at 1e-6 when asked for less": (_variant(own_tol=1e-6), "the precision tol"),
    "np.allclose as the test": (_variant(allclose=True), "not np.allclose"),
}


@pytest.mark.parametrize("name", RELAX_MUTANTS)
def test_relax_mutants_fail_with_their_name(name):
    impl, mistake = RELAX_MUTANTS[name]
    assert_fails("relax", impl, mistake)


def test_the_two_parts_are_scored_apart():
    """A relax that finds the fixed point but never raises keeps the s part; one that raises wherever it does
    not settle but returns the wrong state keeps the raises part."""
    for impl, kept in ((_variant(silent=True), "s"), (_variant(late=True), "raises")):
        for seed in (None, 2):
            result = grade("relax", impl, hidden=seed is not None, seed=seed)
            assert [p.name for p in result.parts if p.passed] == [kept], str(result)


@pytest.mark.parametrize("kind, accepted", [
    ("ConvergenceError", True), ("RuntimeError", True), ("FloatingPointError", True),
    ("ValueError", False), ("NotSettled", False),
])
def test_an_error_is_judged_the_same_raised_here_and_rebuilt_from_the_sandbox(kind, accepted):
    """What the sandbox sends back (remote_error: a built-in error as itself, any other as an Exception of the
    same name) gets the verdict that the error raised in this process gets."""
    local = {"ConvergenceError": bp.ConvergenceError, "NotSettled": type("NotSettled", (RuntimeError,), {})}

    def raising(make):
        def impl(x, W, U, tol, max_iter):
            try:
                return relax_for(x, W, U, tol, max_iter)
            except bp.ConvergenceError:
                raise make("relax: did not settle") from None

        return impl

    here = grade("relax", raising(local.get(kind) or getattr(builtins, kind)))
    there = grade("relax", raising(lambda message: remote_error({"type": kind, "message": message})))
    assert here.passed == there.passed == accepted, f"{here}\n{there}"
    assert [p.passed for p in here.parts] == [p.passed for p in there.parts], f"{here}\n{there}"


def test_an_unwritten_relax_is_reported_as_such():
    def relax(x, W, U, tol, max_iter):
        raise NotImplementedError

    assert "relax is not written yet" in str(grade("relax", relax))


SUITES = {"relax": (RELAX_CORRECT, RELAX_MUTANTS)}


def test_the_suite_is_complete():
    assert set(SUITES) == {e.id for e in relaxation.EXERCISES}
    for correct, mutants in SUITES.values():
        named = [m for _, m in mutants.values() if m]
        assert len(correct) >= 3 and len(named) >= 6 and len(set(named)) == len(named)


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id", SUITES)
def test_no_wrong_verdict_over_200_hidden_seeds(exercise_id):
    correct, mutants = SUITES[exercise_id]
    soak(exercise_id, mutants, correct, exclusive=False)
