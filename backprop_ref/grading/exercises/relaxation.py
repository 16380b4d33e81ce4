"""Exercises of lesson 9: the forward relaxation to a fixed point.

relax(x, W, U, tol, max_iter) -> s: the state of s = tanh(s @ W + [x, 1] @ U), relaxed from s_0 = 0 by
s_k = tanh(s_(k-1) @ W + u) until the change max |s_k - s_(k-1)| is below tol, and s_k returned; when that
has not happened after max_iter iterations (W too large, max_iter too small, or NaN in the state), relax must
raise bp.ConvergenceError, a RuntimeError (a built-in RuntimeError or ArithmeticError is accepted too), not
return a state that is not the fixed point.

Two parts. "s" (Value target): the state returned, on the cases where the relaxation settles. The target is
the iterate s_K itself, K the first iteration whose change is below tol, recomputed here (``_relaxation``,
independent of backprop_ref.fixed_point; the tests check the two agree): one case has a coarse tol (1e-2) and
a slow contraction, so that stopping one step early or late, or by a relative change, is seen. "raises"
(Raises targets): relax raises exactly where it must, on every case: it must return where the relaxation
settles, and raise where W is past a contraction and the state oscillates, where x holds NaN, and where
max_iter is one iteration short of what tol needs (and return where max_iter is exactly enough).

A learner's exception cannot reach the verdict through run_learner (any exception fails every part), so the
adapt, ``raised_or_returned``, turns it into RAISED under the output "raised". In the grader's sandbox the
exception arrives rebuilt (sandbox.bubblewrap.remote_error): a built-in one as itself, any other as an
Exception of the same name. So an error is accepted by what arrives in both places: its type's name is
ConvergenceError, or it is a built-in RuntimeError or ArithmeticError; the in-notebook check and the
sandboxed grade then give the same verdicts.
"""
import builtins
import functools

import numpy as np

from ..._guard import DelegationError
from ..._tracebacks import learner_location
from ...bias import affine as _affine
from ..core import RAISED, RETURNED, Case, Exercise, LearnerProcessEnded, Mistake, Part, Raises, Value, WrongReturn
from ..core import type_name
from ._common import told_apart

# ---------------------------------------------------------------------------------------------
# relax(x, W, U, tol, max_iter) -> s


def says_it_did_not_settle(error):
    """Whether the exception is one the contract accepts for "the relaxation did not settle"."""
    kind = type(error)
    if kind.__name__ == "ConvergenceError":
        return True
    built_in = getattr(builtins, kind.__name__, None) is kind
    return built_in and issubclass(kind, (RuntimeError, ArithmeticError)) and not issubclass(
        kind, (NotImplementedError, RecursionError))


def raised_or_returned(implementation):
    """The function the grader calls for relax: (s, RETURNED) where the learner's relax returned s, and
    (a WrongReturn saying what it raised, RAISED) where it raised an error the contract accepts. Any other
    error fails both outputs with what it was; an unwritten relax, a call of an answer key, a timeout or an
    ended process go on to run_learner, which reports them."""
    if getattr(implementation, "_raised_or_returned", False):
        return implementation

    @functools.wraps(implementation)
    def call(x, W, U, tol, max_iter):
        try:
            s = implementation(x, W, U, tol, max_iter)
        except (NotImplementedError, DelegationError, WrongReturn, LearnerProcessEnded):
            raise
        except Exception as e:
            where = getattr(e, "where", None)
            said = f"relax raised {type_name(e)}: {e}{learner_location(e) if where is None else where}"
            if says_it_did_not_settle(e):
                return WrongReturn(said), RAISED
            wrong = WrongReturn(f"{said}; where the relaxation does not settle, raise bp.ConvergenceError "
                                f"(a RuntimeError), and return s where it does")
            return wrong, wrong
        return s, RETURNED

    call._raised_or_returned = True
    return call


def _relaxation(x, W, U, tol, max_iter, bias=True, relative=False):
    """([s_0 = 0, s_1, ..., s_K, s_(K+1)], K): s_k = tanh(s_(k-1) @ W + u), K the first k <= max_iter whose
    change max |s_k - s_(k-1)| (entry by entry divided by |s_k| with relative) is below tol; or ([s_0, ..., s_max_iter],
    None) where there is none. bias=False leaves U's bias row out of u (a mistake's)."""
    u = _affine(x, U) if bias else x @ U[:-1]
    states = [np.zeros((x.shape[0], W.shape[1]))]
    with np.errstate(all="ignore"):
        for k in range(1, max_iter + 1):
            states.append(np.tanh(states[-1] @ W + u))
            change = np.abs(states[-1] - states[-2])
            change = (change / np.abs(states[-1]) if relative else change).max()
            if change < tol:
                states.append(np.tanh(states[-1] @ W + u))  # one more, for the mistake that returns it
                return states, k
    return states, None


def _contraction(rng, H, norm):
    """W (H, H), Gaussian, scaled to spectral norm ``norm``."""
    W = rng.normal(size=(H, H))
    return W * (norm / np.linalg.norm(W, 2))


def _inputs(rng, N, D, H, drive=1.0):
    """x (N, D) and U (D + 1, H), its last row the bias; ``drive`` scales U (a small one keeps tanh' near 1)."""
    x = rng.normal(size=(N, D))
    U = drive * np.vstack([rng.normal(size=(D, H)) / np.sqrt(D), 0.5 * rng.normal(size=(1, H))])
    return x, U


def _relax_case(rng, dims):
    """Cases by dims["kind"]: "settles" (a contraction), "slow" (W = 0.9 times an orthogonal matrix, a small
    drive and tol = 1e-2: the change shrinks by about 0.9 an iteration, so K - 1, K and K + 1 differ), "exact"
    and "short" (max_iter = K and K - 1), "oscillates" (W = -c (I + a positive semidefinite matrix), c >= 2:
    negative feedback past a contraction, the state swings back and forth), "nan" (NaN in x)."""
    N, D, H, kind = dims["N"], dims["D"], dims["H"], dims["kind"]
    tol, max_iter = 10.0 ** -rng.uniform(7.5, 10), 1000  # well below 1e-6: a relax with a floor of its own shows
    x, U = _inputs(rng, N, D, H)
    W = _contraction(rng, H, rng.uniform(0.4, 0.9))
    if kind == "slow":
        x, U = _inputs(rng, N, D, H, drive=0.1)
        W = 0.9 * np.linalg.qr(rng.normal(size=(H, H)))[0]
        tol = 1e-2
    elif kind == "oscillates":
        tol, max_iter = 1e-6, 100
        for _ in range(50):  # negative feedback this strong never settles; redrawn if it ever did
            B = rng.normal(size=(H, H))
            W = -rng.uniform(2.0, 2.5) * (np.eye(H) + 0.5 * B @ B.T / np.linalg.norm(B @ B.T, 2))
            if _relaxation(x, W, U, tol, max_iter)[1] is None:
                break
    elif kind == "nan":
        tol, max_iter = 1e-6, 50
        x[tuple(int(rng.integers(n)) for n in x.shape)] = np.nan
    elif kind in ("exact", "short"):
        tol = 1e-6
        K = _relaxation(x, W, U, tol, max_iter)[1]
        max_iter = K if kind == "exact" else K - 1
    states, K = _relaxation(x, W, U, tol, max_iter)
    norm = float(np.linalg.norm(W, 2))
    if K is not None:
        # Judged to the precision tol asks: any state between s_K and the fixed point passes, one that stopped
        # on a looser test (a fixed 1e-6, np.allclose's relative tolerance) does not.
        fixed_point = _relaxation(x, W, U, -1.0, 3000)[0][-1]
        within = tol + 2 * float(np.abs(states[K] - fixed_point).max())
        precision = (f"the precision tol = {tol:.1e} asks for: stop at the first k with max|s_k - s_(k-1)| < tol, "
                     f"with the tol given (not a fixed one, not np.allclose's relative test)")
        targets = {"s": Value(states[K], within=within, within_why=precision), "raised": Raises(False, (
            f"from zeros, the change max|s_k - s_(k-1)| falls below tol at iteration k = {K}, "
            f"within max_iter = {max_iter}: return s_{K}"))}
    elif kind == "oscillates":
        targets = {"raised": Raises(True, (
            f"W has spectral norm {norm:.2f}, well past 1 (no contraction): from zeros the state swings back and "
            f"forth, and after max_iter = {max_iter} iterations the change is still above tol: raise "
            f"bp.ConvergenceError"))}
    elif kind == "nan":
        targets = {"raised": Raises(True, (
            "x holds NaN, so the state does too after one iteration, and its change max|s_k - s_(k-1)| is NaN, "
            "never below tol: raise bp.ConvergenceError (NaN < tol is False, and so is NaN > tol)"))}
    else:
        targets = {"raised": Raises(True, (
            f"from zeros, the change falls below tol only at iteration {max_iter + 1}, one more than max_iter = "
            f"{max_iter} allows: raise bp.ConvergenceError"))}
    reference = {"raised": np.array(RETURNED if K is not None else RAISED)}
    if K is not None:
        reference["s"] = states[K]
    return Case(
        args=(x, W, U, tol, max_iter),
        targets=targets,
        reference=reference,
        label=f"N={N}, D={D}, H={H}, tol={tol:.1e}, max_iter={max_iter}, W's spectral norm {norm:.2f}",
        data={"x": x, "W": W, "U": U, "tol": tol, "max_iter": max_iter, "kind": kind},
    )


def _relax_hidden_dims(rng):
    """General cases first (every size >= 2): one settling, the slow one, oscillating, NaN, max_iter exactly K
    and one short of it; then a batch of 1, a single input and a single unit, settling."""

    def sizes(**ones):
        return {**{n: int(rng.integers(2, 6)) for n in "NDH"}, **ones}

    kinds = ["settles", "slow", "oscillates", "nan", "exact", "short"]
    return [dict(sizes(), kind=k) for k in kinds] + [dict(sizes(**{n: 1}), kind="settles") for n in "NDH"]


def _returns(c, pick=0, W="W", **twist):
    """{s: the state a relax with one twist returns}: s_(K + pick), with W transposed (W="W.T"), the
    bias row left out or the change measured relative to the state; raises where that relax would raise."""
    d = c.data
    states, K = _relaxation(d["x"], d["W"].T if W == "W.T" else d["W"], d["U"], d["tol"], d["max_iter"], **twist)
    if K is None:
        raise ArithmeticError("this relax raises here: the mistake does not apply")
    return {"s": states[K + pick]}


def _all_iterations(c):
    """{s: the state after max_iter iterations, tol ignored}."""
    d = c.data
    return {"s": _relaxation(d["x"], d["W"], d["U"], -1.0, d["max_iter"])[0][-1]}


def _on(kind, raised):
    """A fingerprint of the "raised" output on cases of one kind only."""

    def wrong(c):
        if c.data["kind"] != kind:
            raise ValueError("another kind of case")
        return {"raised": np.array(raised)}

    return wrong


RELAX = Exercise(
    id="relax",
    signature="relax(x, W, U, tol, max_iter) -> s   # s = tanh(s @ W + [x, 1] @ U), relaxed from zeros until "
              "max|s_k - s_(k-1)| < tol; raises bp.ConvergenceError if that takes more than max_iter iterations",
    lesson="09_fixed_point",
    outputs=("s", "raised"),
    parts=(Part("s", 2, ("s",)), Part("raises", 1, ("raised",))),
    make_case=_relax_case,
    visible_dims=({"N": 3, "D": 2, "H": 4, "kind": "slow"}, {"N": 3, "D": 2, "H": 4, "kind": "settles"},
                  {"N": 3, "D": 2, "H": 4, "kind": "oscillates"},
                  {"N": 2, "D": 3, "H": 3, "kind": "nan"}, {"N": 2, "D": 3, "H": 3, "kind": "exact"},
                  {"N": 2, "D": 3, "H": 3, "kind": "short"}),
    hidden_dims=_relax_hidden_dims,
    shape_names={"s": "(N, H)"},
    adapt=raised_or_returned,
    mistakes=told_apart(
        Mistake("relax returns s_(k-1), the state before the last step: return s_k, the new state, as soon as "
                "max|s_k - s_(k-1)| < tol", lambda c: _returns(c, pick=-1)),
        Mistake("relax takes one step more after the change fell below tol: return s_k, the state whose change "
                "max|s_k - s_(k-1)| < tol, without stepping again", lambda c: _returns(c, pick=1)),
        Mistake("the bias row of U is left out: the input's drive is u = [x, 1] @ U = x @ U[:-1] + U[-1]",
                lambda c: _returns(c, bias=False)),
        Mistake("W is transposed: the states are rows, so s_k = tanh(s_(k-1) @ W + u)", lambda c: _returns(c, W="W.T")),
        Mistake("the change is measured relative to the state: stop when the change itself, max|s_k - s_(k-1)|, "
                "is below tol", lambda c: _returns(c, relative=True)),
        Mistake("relax runs all max_iter iterations whatever the change: stop at the first k with "
                "max|s_k - s_(k-1)| < tol", _all_iterations),
    ) + (
        Mistake("relax returns the last state silently when the relaxation has not settled: a state that is "
                "not the fixed point must not pass for one; raise bp.ConvergenceError", _on("oscillates", RETURNED)),
        Mistake("a NaN change got past the test: every comparison with NaN is False, so a loop `while change > "
                "tol` stops at once; loop while `not change < tol`, or check np.isfinite", _on("nan", RETURNED)),
        Mistake("relax returned where the relaxation needs one iteration more than max_iter: if it raises on "
                "the other cases that do not settle, the cap allows one iteration too many (at most max_iter new "
                "states s_1 .. s_max_iter; if none has settled, raise)", _on("short", RETURNED)),
        Mistake("relax raised where the relaxation settles at iteration k = max_iter: if your s is right on the "
                "other cases, the cap allows one iteration too few (s_max_iter is the last state computed, and "
                "it is returned if it has settled)", _on("exact", RAISED)),
    ),
)

EXERCISES = [RELAX]
