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
"""
from dataclasses import dataclass

import numpy as np

from ._guard import answer_key
from .backend import array_namespace, to_host


def _require_float64(where, name, a):
    dtype = getattr(a, "dtype", None)
    if dtype is None or dtype != np.float64:
        raise TypeError(
            f"{where}: {name} has dtype {dtype}; gradient checking needs float64 "
            f"(float32 central differences lose about half their digits). Pass {name}.astype('float64')."
        )


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
        out = f(x)
        return float((out * dout).sum()) if dout is not None else float(xp.asarray(out).sum())

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

    def __str__(self):
        status = "ok  " if self.passed else "FAIL"
        line = f"{status} d{self.name}: max relative error {self.max_rel_error:.2e}"
        if not self.passed:
            line += (
                f"; {self.n_bad} of {self.n_total} entries disagree; worst at {self.worst_index}: "
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


def check_gradients(f, params, grads, dout=None, rtol=1e-5, atol=1e-8, h=1e-6):
    """Check analytic gradients of every named parameter against central differences.

    f: a function of no arguments that reads the arrays in ``params`` (they are changed in place
       and restored) and returns the output; the checked scalar is sum(f() * dout).
    params: {name: float64 array}; grads: {name: analytic gradient}, the same names.
    Returns a GradCheckReport; ``report.passed`` and ``str(report)`` say how it went.
    """
    missing = set(params) - set(grads)
    if missing:
        raise ValueError(f"check_gradients: no analytic gradient given for {sorted(missing)}")
    checks = []
    for name, x in params.items():
        _require_float64("check_gradients", name, x)
        numeric = numerical_gradient(lambda _: f(), x, dout=dout, h=h)
        checks.append(compare_gradient(name, grads[name], numeric, rtol=rtol, atol=atol))
    return GradCheckReport(checks)


def assert_gradients_match(f, params, grads, dout=None, rtol=1e-5, atol=1e-8, h=1e-6):
    """check_gradients, raising AssertionError with the report when any parameter disagrees."""
    report = check_gradients(f, params, grads, dout=dout, rtol=rtol, atol=atol, h=h)
    if not report.passed:
        raise AssertionError("analytic gradient disagrees with central differences:\n" + str(report))
    return report
