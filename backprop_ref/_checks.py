"""Input checks that turn bad input into errors naming the function, what came and what was expected.

They read only shapes and dtypes (cheap, no device sync); ``check_finite`` reads values and is
used where a non-finite number would otherwise go on silently (losses, training, gradient checks).
"""


class ShapeError(ValueError):
    """An array has the wrong number of dimensions or the wrong shape."""


class NotFiniteError(FloatingPointError, ValueError):
    """An array holds NaN or infinity where finite numbers are needed."""


class ConvergenceError(RuntimeError):
    """An iteration (relaxation to a fixed point) did not settle within its budget."""


def check_float(where, name, a):
    dtype = getattr(a, "dtype", None)
    if dtype is None or dtype.kind != "f":
        got = f"dtype {dtype}" if dtype is not None else f"a {type(a).__name__}"
        raise TypeError(f"{where}: {name} must be a floating-point array (float32 or float64), got {got}")


def check_ndim(where, name, a, ndim, meaning):
    check_float(where, name, a)
    if a.ndim != ndim:
        raise ShapeError(f"{where}: {name} must have {ndim} dimensions {meaning}, got shape {tuple(a.shape)}")


def check_shape(where, name, a, expected, meaning=""):
    """``expected`` is a tuple whose entries are ints or None (any size)."""
    check_ndim(where, name, a, len(expected), meaning or _pretty(expected))
    if any(e is not None and e != s for e, s in zip(expected, a.shape)):
        more = f" {meaning}" if meaning else ""
        raise ShapeError(f"{where}: {name} must have shape {_pretty(expected)}{more}, got {tuple(a.shape)}")


def check_same_shape(where, name, a, ref_name, ref):
    if tuple(a.shape) != tuple(ref.shape):
        raise ShapeError(
            f"{where}: {name} must have the same shape as {ref_name} {tuple(ref.shape)}, got {tuple(a.shape)}"
        )


def check_finite(where, name, a, xp):
    if not bool(xp.isfinite(a).all()):
        bad = int((~xp.isfinite(a)).sum())
        raise NotFiniteError(f"{where}: {name} holds {bad} non-finite value(s) (NaN or inf) out of {a.size}")


def _pretty(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
