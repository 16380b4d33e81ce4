"""Small helpers the exercise definitions share."""
import numpy as np

from ..core import Gradient


def awkward_dims(rng, names, extra=2, high=6):
    """Hidden-check shapes: ``extra`` random non-square ones, then each dimension set to 1 in turn
    (batch of 1, a single output unit, ...), every size drawn fresh from rng.

    The general shapes come first because a failure's likely cause is read from the first failing
    case, and with a size of 1 different mistakes can give the same numbers."""
    dims = []
    for _ in range(extra):
        sizes = rng.choice(np.arange(2, high + 3), size=len(names), replace=len(names) > high + 1)
        dims.append({n: int(s) for n, s in zip(names, sizes)})
    for one in names:
        d = {n: int(rng.integers(2, high + 1)) for n in names}
        d[one] = 1
        dims.append(d)
    return dims


def label(dims):
    return ", ".join(f"{k}={v}" for k, v in dims.items())


def away_from_zero(a, margin=0.05):
    """Push entries at least ``margin`` away from 0, so no finite difference straddles a ReLU kink."""
    return np.where(a >= 0, a + margin, a - margin)


def vjp_targets(forward, inputs, dout):
    """Gradient targets of sum(forward(**inputs) * dout) for every named input array."""

    def f():
        return float((forward(**inputs) * dout).sum())

    return {name: Gradient(f, x) for name, x in inputs.items()}
