"""Gradient checking by float64 central differences.

    numerical_gradient(f, x, dout)[i] = (g(x + h e_i) - g(x - h e_i)) / (2h),   g(x) = sum(f(x) * dout)

so with ``dout`` (the upstream gradient, default all ones) it gives the same vector-Jacobian
product a backward pass computes. The truncation error is O(h^2) and the rounding error
O(eps / h); with float64 and h = 1e-6 both are far below 1e-6 relative. In float32 the rounding
error alone is ~1e-2, which hides real mistakes, so float16/float32 inputs are refused.

Agreement, entry by entry, uses the relative error

    rel = |analytic - numeric| / max(|analytic| + |numeric|, floor)          (floor = 1e-12)

and an entry *disagrees* when rel > rtol **and** |analytic - numeric| > atol (the atol keeps
entries that are zero up to rounding from counting as wrong; the reported maximum relative error
is taken over the entries with |analytic| + |numeric| > atol for the same reason).

Kinks: ReLU and leaky ReLU are not differentiable at 0; a difference that straddles the kink
sees half a slope. Keep every pre-activation farther than h from 0: tests draw inputs and
push them away from 0 (see tests/), and with random weights an internal pre-activation lands
within h = 1e-6 of 0 with probability ~1e-6 per entry.

Above a few thousand parameters, differencing every coordinate takes minutes (2 forward passes per
entry). ``check_gradients(..., directions=k)`` checks each parameter along k random directions
instead, 2k forward passes per parameter whatever its size, with a stated chance of missing an
error (check_directions), and locates a disagreement by bisection. A direction moves every entry
at once, so many more pre-activations move than in the coordinate check; its step DIRECTION_STEP is
100x smaller to keep ReLU networks of 1e6 parameters clear of the kink.
"""
import numbers
from dataclasses import dataclass

import numpy as np

from ._guard import answer_key
from .backend import array_namespace, to_host

STEP = 1e-6  # the coordinate check's step (see above)
# A direction moves every entry at once, so many pre-activations move; a 100x smaller step keeps
# ReLU's from crossing their kink in networks of 1e6 parameters, and float64 rounding still leaves
# the difference ~1e-8 relative, far inside rtol = 1e-5.
DIRECTION_STEP = 1e-8


def _require_float64(where, name, a):
    dtype = getattr(a, "dtype", None)
    if dtype is None or dtype != np.float64:
        raise TypeError(
            f"{where}: {name} has dtype {dtype}; gradient checking needs float64 "
            f"(float32 central differences lose about half their digits). Pass {name}.astype('float64')."
        )


def _summed(out, dout, xp):
    """The checked scalar sum(out * dout), or sum(out) when dout is None, as a Python float."""
    return float((out * dout).sum()) if dout is not None else float(xp.asarray(out).sum())


@answer_key
def numerical_gradient(f, x, dout=None, h=1e-6):
    """Central-difference gradient of sum(f(x) * dout) with respect to x (float64, same shape as x).

    f: a function of x returning an array (or a scalar when dout is None). x is changed in place
    one entry at a time and restored, so f may also read x from a closure.
    """
    _require_float64("numerical_gradient", "x", x)
    if dout is not None:
        _require_float64("numerical_gradient", "dout", dout)
    xp = array_namespace(x, dout)

    def g():
        return _summed(f(x), dout, xp)

    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        old = float(x[i])
        x[i] = old + h
        plus = g()
        x[i] = old - h
        minus = g()
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return xp.asarray(grad)


def relative_error(a, b, floor=1e-12):
    """Entrywise |a - b| / max(|a| + |b|, floor), as a NumPy array."""
    a, b = np.asarray(to_host(a), dtype=np.float64), np.asarray(to_host(b), dtype=np.float64)
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), floor)


@dataclass
class GradCheck:
    """The verdict for one parameter."""

    name: str
    passed: bool
    max_rel_error: float
    worst_index: tuple
    analytic: float  # the analytic gradient at worst_index
    numeric: float  # the central difference at worst_index
    n_bad: int
    n_total: int
    counted: str = "entries"  # what n_bad and n_total count: "entries", or "directions" in the directional check

    def __str__(self):
        status = "ok  " if self.passed else "FAIL"
        line = f"{status} d{self.name}: max relative error {self.max_rel_error:.2e}"
        if not self.passed:
            line += (
                f"; {self.n_bad} of {self.n_total} {self.counted} disagree; worst at {self.worst_index}: "
                f"analytic {self.analytic:.6g}, numeric {self.numeric:.6g}"
            )
        return line


@dataclass
class GradCheckReport:
    checks: list

    @property
    def passed(self):
        return all(c.passed for c in self.checks)

    def __getitem__(self, name):
        return next(c for c in self.checks if c.name == name)

    def __str__(self):
        return "\n".join(str(c) for c in self.checks)


def compare_gradient(name, analytic, numeric, rtol=1e-5, atol=1e-8):
    """Compare one analytic gradient with its numerical estimate -> GradCheck."""
    a = np.asarray(to_host(analytic), dtype=np.float64)
    n = np.asarray(to_host(numeric), dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient of {name} has shape {a.shape}, expected {n.shape} (the shape of {name})")
    if a.size == 0:
        return GradCheck(name, True, 0.0, (), 0.0, 0.0, 0, 0)
    rel = relative_error(a, n)
    absolute = np.abs(a - n)
    bad = (rel > rtol) & (absolute > atol) | ~np.isfinite(a)
    score = np.where(bad, rel + 1.0, rel)  # the worst entry is a disagreeing one if there is any
    worst = np.unravel_index(int(np.argmax(score)), a.shape)
    return GradCheck(
        name=name,
        passed=not bad.any(),
        max_rel_error=float(np.max(np.where(np.abs(a) + np.abs(n) > atol, rel, 0.0), initial=0.0))
        if np.isfinite(a).all()
        else float("inf"),
        worst_index=tuple(int(i) for i in worst),
        analytic=float(a[worst]),
        numeric=float(n[worst]),
        n_bad=int(bad.sum()),
        n_total=int(a.size),
    )


def check_gradients(f, params, grads, dout=None, rtol=1e-5, atol=1e-8, h=None, directions=None, rng=None):
    """Check analytic gradients of every named parameter against central differences.

    f: a function of no arguments that reads the arrays in ``params`` (they are changed in place
       and restored) and returns the output; the checked scalar is sum(f() * dout).
    params: {name: float64 array}; grads: {name: analytic gradient}, the same names and shapes.
    directions: None differences every coordinate (2 forward passes per entry); an integer k checks
       each parameter along k random directions instead (2k forward passes per parameter, whatever
       its size; see check_directions; k = 8 is the suggested choice). rng: the directions' generator
       or seed (None: fresh entropy).
    h: the step; None means STEP = 1e-6 for coordinates and DIRECTION_STEP = 1e-8 along directions.
    Returns a GradCheckReport; ``report.passed`` and ``str(report)`` say how it went.
    """
    missing = set(params) - set(grads)
    if missing:
        raise ValueError(f"check_gradients: no analytic gradient given for {sorted(missing)}")
    if directions is not None:
        _require_count(directions)
        rng = np.random.default_rng(rng)
    checks = []
    for name, x in params.items():
        _require_float64("check_gradients", name, x)
        if directions is None:
            numeric = numerical_gradient(lambda _: f(), x, dout=dout, h=STEP if h is None else h)
            checks.append(compare_gradient(name, grads[name], numeric, rtol=rtol, atol=atol))
        else:
            step = DIRECTION_STEP if h is None else h
            check = check_directions(name, f, x, grads[name], directions, rng, dout=dout, rtol=rtol, atol=atol, h=step)
            checks.append(check)
    return GradCheckReport(checks)


def _require_count(directions):
    if isinstance(directions, bool) or not isinstance(directions, numbers.Integral):
        raise TypeError(f"check_gradients: directions must be a whole number (e.g. 8) or None, got {directions!r}")
    if directions < 1:
        raise ValueError(f"check_gradients: directions must be at least 1 (8 is suggested), got {directions}")


def check_directions(name, f, x, analytic, directions, rng, dout=None, rtol=1e-5, atol=1e-8, h=DIRECTION_STEP):
    """Check one parameter's gradient along ``directions`` random directions -> GradCheck.

    For each direction v (independent standard normal entries, the shape of x: each entry of x moves
    by about h) the central difference (g(x + h v) - g(x - h v)) / 2h must match <analytic, v>; a
    direction disagrees when they differ by more than

        tol = rtol * |analytic| + atol          (|.|: the Euclidean norm over all of x's entries)

    and ``max_rel_error`` is the largest difference divided by |analytic|. Each parameter array
    gets its own directions, so an error in a small array (a bias, the last layer) is measured
    against that array's gradient, not diluted by a large one.

    Detection guarantee: let e = analytic - true gradient. <e, v> is normal with spread |e|, so it
    lands within 2 tol of 0 (the most a correct gradient's difference may be off, or correct
    gradients would fail) with chance at most sqrt(2 / pi) * 2 tol / |e| < 1.6 tol / |e|, and all
    k independent directions miss the error with chance at most (1.6 tol / |e|)^k, whatever the
    size of x. With rtol = 1e-5, k = 8 and atol negligible beside rtol |analytic|: an error of
    1e-3 |gradient| (even in a single entry, e.g. one entry off by 1e-3 of the gradient's norm) is
    missed with chance below (1.6e-2)^8 = 5e-15; a gradient scaled by 1.01 (|e| = 1e-2 |gradient|)
    below 5e-23. An error much smaller than rtol |gradient| is not guaranteed to be seen: one entry
    off by 1e-3 of its *own* value is far below that in a large array (use the coordinate check).

    When a direction disagrees, the error is located by bisection along the worst direction v:
    the halves' gaps <analytic - numeric, v restricted to the half> add up to the whole gap, so
    differencing one half gives both, and the search follows the larger gap down to one entry
    (2 forward passes per halving, about 2 log2(x.size) in all); that entry is then differenced
    alone with the coordinate check's step STEP and reported as ``worst_index`` with both numbers.
    """
    if dout is not None:
        _require_float64("check_gradients", "dout", dout)
    xp = array_namespace(x, dout)
    a = np.asarray(to_host(analytic), dtype=np.float64)
    if a.shape != x.shape:
        raise ValueError(f"gradient of {name} has shape {a.shape}, expected {x.shape} (the shape of {name})")
    if x.size == 0:
        return GradCheck(name, True, 0.0, (), 0.0, 0.0, 0, 0, "directions")
    original = x.copy()

    def difference(v, h=h):
        """(g(x + h v) - g(x - h v)) / 2h for a host array v shaped like x (x is restored by the caller)."""
        step = xp.asarray(h * v)
        xp.add(original, step, out=x)  # written into x: f reads x, and no temporary the size of x is made
        plus = _summed(f(), dout, xp)
        xp.subtract(original, step, out=x)
        minus = _summed(f(), dout, xp)
        return (plus - minus) / (2 * h)

    def failure(index, max_rel_error, n_bad):
        e = np.zeros(x.shape)
        e[index] = 1.0
        index = tuple(int(i) for i in index)
        numeric = difference(e, STEP)
        return GradCheck(name, False, max_rel_error, index, float(a[index]), numeric, n_bad, directions, "directions")

    try:
        if not np.isfinite(a).all():
            return failure(np.unravel_index(int(np.argmin(np.isfinite(a))), a.shape), float("inf"), directions)
        norm = float(np.linalg.norm(a))
        tol = rtol * norm + atol
        worst_gap, worst_v, n_bad = 0.0, None, 0
        for _ in range(directions):
            v = rng.standard_normal(x.shape)
            gap = float(a.ravel() @ v.ravel()) - difference(v)
            n_bad += not abs(gap) <= tol  # "not <=" counts a NaN as disagreeing
            if worst_v is None or not abs(gap) <= abs(worst_gap):
                worst_gap, worst_v = gap, v
        max_rel_error = abs(worst_gap) / max(norm, 1e-300)
        if n_bad == 0:
            return GradCheck(name, True, max_rel_error, (), 0.0, 0.0, 0, directions, "directions")
        flat = _bisect(a.ravel(), worst_v.ravel(), worst_gap, lambda u: difference(u.reshape(x.shape)))
        return failure(np.unravel_index(flat, x.shape), max_rel_error, n_bad)
    finally:
        x[...] = original


def _bisect(a, v, gap, difference):
    """The flat index the gap <a, v> - difference(v) comes from, following the larger half's gap."""
    lo, hi = 0, a.size
    while hi - lo > 1:
        mid = (lo + hi) // 2
        u = np.zeros(a.size)
        u[lo:mid] = v[lo:mid]
        left = float(a[lo:mid] @ v[lo:mid]) - difference(u)
        right = gap - left  # both terms are linear in the direction, so the right half's gap is what is left
        lo, hi, gap = (lo, mid, left) if abs(left) >= abs(right) else (mid, hi, right)
    return lo


def assert_gradients_match(f, params, grads, dout=None, rtol=1e-5, atol=1e-8, h=None, directions=None, rng=None):
    """check_gradients, raising AssertionError with the report when any parameter disagrees."""
    report = check_gradients(f, params, grads, dout=dout, rtol=rtol, atol=atol, h=h, directions=directions, rng=rng)
    if not report.passed:
        raise AssertionError("analytic gradient disagrees with central differences:\n" + str(report))
    return report
