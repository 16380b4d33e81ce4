"""Small data sets for the course: made in code from an explicit random generator, or shipped.

Every function returns float64 inputs ``x`` and targets ``y`` (int64 labels or float64 values) as
NumPy arrays, or on the backend named by ``backend`` (see backprop_ref.backend.get_backend). ``rng`` is a
numpy.random.Generator or an int seed, so one seed gives the same data on every machine.

    xor()                         x (4, 2)        y (4,)       the truth table of exclusive or
    two_spirals(n, noise, rng)    x (2n, 2)       y (2n,)      two interleaved spiral arms
    sine_sequences(n, T, rng)     x (n, T, 1)     y (n, T, 1)  predict the next value of a sine wave
    echo_sequences(n, T, d, rng)  x (n, T, 1)     y (n, T, 1)  repeat each input d steps later
    digits()                      x (1797, 64)    y (1797,)    8x8 images of handwritten digits 0..9
    digits_for_grading()          the digits split into public ones and the fifth held out for grading

Nothing is downloaded: the digits ship inside the package (see LICENSE-digits.txt).
"""
from functools import lru_cache
from importlib import resources

import numpy as np

from ..backend import array_namespace, get_backend


def _rng(where, rng):
    if rng is None:
        raise ValueError(f"{where}: needs rng, a numpy.random.Generator or an int seed, e.g. rng=np.random.default_rng(0)")
    return np.random.default_rng(rng)


def _check_count(where, name, n):
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"{where}: {name} must be a whole number >= 1, got {n!r}")


def _check_noise(where, noise):
    if not noise >= 0:
        raise ValueError(f"{where}: noise is a standard deviation and must be >= 0, got {noise}")


def _place(backend, *arrays):
    xp = get_backend(backend)
    return tuple(xp.asarray(a) for a in arrays)


def xor(n=None, noise=0.0, rng=None, backend=None):
    """Exclusive or: label 1 when exactly one of the two inputs is 1.

    n=None: the truth table, x (4, 2) = [[0, 0], [0, 1], [1, 0], [1, 1]], y (4,) = [0, 1, 1, 0].
    n: x (n, 2) cycles through those four corners (so the classes stay balanced), y (n,).
    noise: standard deviation of Gaussian noise added to x (needs rng).
    x float64, y int64 labels 0/1.
    """
    where = "xor"
    if n is not None:
        _check_count(where, "n", n)
    _check_noise(where, noise)
    table = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    x = table[np.arange(4 if n is None else n) % 4]
    y = (x[:, 0] != x[:, 1]).astype(np.int64)
    if noise > 0:
        x = x + noise * _rng(where, rng).normal(size=x.shape)
    return _place(backend, x, y)


def two_spirals(n_per_class, noise, rng, turns=1.5, backend=None):
    """Two spiral arms winding around each other: a classic that no straight line separates.

    Arm 0 at parameter t in [0, 1]: radius r = t, angle theta = 2 pi * turns * t,
        point = (r cos theta, r sin theta) + noise * Gaussian;   arm 1 is arm 0 turned by 180 degrees.
    t = sqrt(u), u uniform in [0, 1], which spreads the points evenly along the arms.
    -> x (2 * n_per_class, 2) float64 in about [-1, 1]^2,
       y (2 * n_per_class,) int64: the first n_per_class are arm 0, the rest arm 1.
    """
    where = "two_spirals"
    _check_count(where, "n_per_class", n_per_class)
    _check_noise(where, noise)
    if not turns > 0:
        raise ValueError(f"{where}: turns must be > 0, got {turns}")
    rng = _rng(where, rng)
    t = np.sqrt(rng.uniform(size=n_per_class))
    theta = 2 * np.pi * turns * t
    arm = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)
    x = np.concatenate([arm, -arm]) + noise * rng.normal(size=(2 * n_per_class, 2))
    y = np.repeat(np.arange(2, dtype=np.int64), n_per_class)
    return _place(backend, x, y)


def sine_sequences(n, T, rng, omega=(0.1, 0.5), noise=0.0, backend=None):
    """Sine waves to continue: at every time step, predict the next value.

    Sequence i is s_i(k) = sin(omega_i * k + phi_i), k = 0..T, with omega_i uniform in
    [omega[0], omega[1]] (radians per step) and phi_i uniform in [0, 2 pi).
    x[i, k, 0] = s_i(k) + noise * Gaussian      (the noisy observation at step k)
    y[i, k, 0] = s_i(k + 1)                     (the clean next value)
    One value says neither the frequency nor whether the wave rises or falls: the network has to
    remember earlier steps, which is what an RNN's hidden state is for.
    -> x (n, T, 1), y (n, T, 1), both float64.
    """
    where = "sine_sequences"
    _check_count(where, "n", n)
    _check_count(where, "T", T)
    _check_noise(where, noise)
    lo, hi = omega
    if not 0 < lo <= hi:
        raise ValueError(f"{where}: omega must be a range (low, high) with 0 < low <= high, got {omega}")
    rng = _rng(where, rng)
    w = rng.uniform(lo, hi, size=(n, 1))
    phi = rng.uniform(0, 2 * np.pi, size=(n, 1))
    s = np.sin(w * np.arange(T + 1) + phi)
    x = s[:, :-1] + noise * rng.normal(size=(n, T))
    y = s[:, 1:]
    return _place(backend, x[:, :, None], y[:, :, None])


def echo_sequences(n, T, delay, rng, backend=None):
    """Random signs to echo: at every time step, output the input of ``delay`` steps before.

    x[i, t, 0] = +1 or -1, each with probability 1/2, independently
    y[i, t, 0] = x[i, t - delay, 0] for t >= delay, and 0 for t < delay (nothing to echo yet)
    The input of step t says nothing about its target: the network must carry each sign in its
    hidden state for ``delay`` steps, so the gradient that trains it must come back that far.
    -> x (n, T, 1), y (n, T, 1), both float64.
    """
    where = "echo_sequences"
    _check_count(where, "n", n)
    _check_count(where, "T", T)
    _check_count(where, "delay", delay)
    if delay >= T:
        raise ValueError(f"{where}: delay must be below T (a sequence of T = {T} steps has nothing to echo "
                         f"{delay} steps later), got delay = {delay}")
    x = _rng(where, rng).choice([-1.0, 1.0], size=(n, T, 1))
    y = np.zeros_like(x)
    y[:, delay:] = x[:, :-delay]
    return _place(backend, x, y)


@lru_cache(maxsize=1)
def _digits_table():
    with resources.as_file(resources.files(__name__) / "digits.csv.gz") as path:
        table = np.loadtxt(path, delimiter=",")
    table.flags.writeable = False
    return table


def digits(backend=None):
    """Handwritten digits 0..9 as 8x8 grey images, for optical character recognition.

    -> x (1797, 64) float64 in [0, 1]: the 8x8 image row by row, pixel counts 0..16 divided by 16
       y (1797,) int64 labels 0..9 (about 180 of each)
    x.reshape(-1, 8, 8) gives the images. The data is the UCI "Optical Recognition of Handwritten
    Digits" set (Alpaydin and Kaynak, 1998, CC BY 4.0), the 1797-sample copy that scikit-learn
    ships, stored in this package as digits.csv.gz: see LICENSE-digits.txt.
    """
    table = _digits_table()
    return _place(backend, table[:, :64] / 16.0, table[:, 64].astype(np.int64))


HELD_OUT_FRACTION = 0.2  # of each digit's examples, held out for grading fit_digits
_HELD_OUT_SEED = 1998  # fixed: the same digits are held out on every machine


def held_out(y):
    """The held-out digits of digits(): a bool mask over its 1797 labels y, a fifth of each class."""
    rng = np.random.default_rng(_HELD_OUT_SEED)
    mask = np.zeros(len(y), dtype=bool)
    for label in range(10):
        where = np.flatnonzero(y == label)
        mask[rng.choice(where, size=round(HELD_OUT_FRACTION * len(where)), replace=False)] = True
    return mask


def digits_for_grading():
    """The digits split for grading fit_digits: x_public, y_public, x_held_out, y_held_out (NumPy).

    The held-out fifth (``held_out``) is in this package but not in the learner edition of it, which is
    all that the grader's sandbox can read (backprop_ref.sandbox): no learner code can look up the label
    of a digit it is graded on.
    """
    x, y = digits(backend="numpy")
    mask = held_out(y)
    return x[~mask], y[~mask], x[mask], y[mask]


def train_test_split(x, y, test_fraction, rng):
    """Shuffle the examples (axis 0) and hold out a fraction of them for testing.

    x: (N, ...)   y: (N, ...)   test_fraction in (0, 1)   rng: Generator or int seed
    -> x_train, x_test, y_train, y_test (round(test_fraction * N) test examples), on x's backend.
    """
    where = "train_test_split"
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"{where}: x and y must have the same number of examples (axis 0), got {x.shape[0]} and {y.shape[0]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"{where}: test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n_test = round(test_fraction * n)
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"{where}: test_fraction {test_fraction} of N = {n} examples leaves an empty train or test set")
    xp = array_namespace(x, y)
    order = xp.asarray(_rng(where, rng).permutation(n))
    test, tr = order[:n_test], order[n_test:]
    return x[tr], x[test], y[tr], y[test]
