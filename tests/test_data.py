"""The data sets: shapes, dtypes, labels, determinism, the shipped digits and their licence."""
import hashlib
from importlib import resources

import numpy as np
import pytest

from backprop_ref.backend import to_host
from backprop_ref.data import digits, sine_sequences, train_test_split, two_spirals, xor

DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"  # scikit-learn 1.9.1's copy


def test_xor_is_the_truth_table():
    """xor() is the four corners of the unit square, labelled 1 where exactly one input is 1."""
    x, y = xor()
    np.testing.assert_array_equal(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert x.dtype == np.float64 and y.dtype == np.int64


def test_noisy_xor_keeps_balanced_labels_near_the_corners():
    """xor(n, noise, rng): n points cycling the corners, labels from the corner, small Gaussian noise, deterministic."""
    x, y = xor(n=400, noise=0.1, rng=5)
    assert x.shape == (400, 2) and y.shape == (400,)
    corners = np.round(x)
    np.testing.assert_array_equal(y, (corners[:, 0] != corners[:, 1]).astype(int))
    assert np.bincount(y).tolist() == [200, 200]
    assert 0.08 < (x - np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 100)).std() < 0.12
    np.testing.assert_array_equal(x, xor(n=400, noise=0.1, rng=np.random.default_rng(5))[0])


def test_two_spirals_shapes_labels_and_symmetry():
    """2n points in about [-1, 1]^2; without noise arm 1 is arm 0 turned by 180 degrees and every radius is <= 1."""
    x, y = two_spirals(50, 0.0, rng=1)
    assert x.shape == (100, 2) and x.dtype == np.float64
    assert y.dtype == np.int64 and y.tolist() == [0] * 50 + [1] * 50
    np.testing.assert_array_equal(x[50:], -x[:50])
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.max() <= 1.0
    theta = 2 * np.pi * 1.5 * r[:50]  # the angle winds with the radius: 1.5 turns by r = 1
    np.testing.assert_allclose(x[:50], np.stack([r[:50] * np.cos(theta), r[:50] * np.sin(theta)], axis=1), atol=1e-12)


def test_sine_sequences_target_is_the_next_value():
    """y[:, k] is x[:, k + 1] (noise = 0): the task is to predict the next value of each wave."""
    x, y = sine_sequences(8, 12, rng=2)
    assert x.shape == y.shape == (8, 12, 1) and x.dtype == y.dtype == np.float64
    np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=1e-15)
    assert np.abs(x).max() <= 1.0
    noisy, clean_y = sine_sequences(8, 12, rng=2, noise=0.1)
    np.testing.assert_array_equal(clean_y, y)
    assert 0.05 < (noisy - x).std() < 0.15


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: xor(n=20, noise=0.2, rng=rng),
        lambda rng: two_spirals(30, 0.1, rng),
        lambda rng: sine_sequences(5, 10, rng),
    ],
    ids=["xor", "two_spirals", "sine_sequences"],
)
def test_generated_data_is_deterministic_given_the_seed(make):
    """The same seed gives the same arrays (int or Generator), another seed different ones."""
    a, b, c = make(7), make(np.random.default_rng(7)), make(8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_data_goes_to_the_chosen_backend(xp):
    """backend= places x and y on that backend, with the same values as on NumPy."""
    name = xp.__name__
    for on_host, on_device in [(two_spirals(10, 0.1, 3), two_spirals(10, 0.1, 3, backend=name)), (digits(), digits(backend=name))]:
        for a, b in zip(on_host, on_device):
            assert type(b) is xp.ndarray and b.dtype == a.dtype
            np.testing.assert_array_equal(to_host(b), a)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: xor(n=0), "xor: n must be a whole number >= 1"),
        (lambda: xor(noise=-1.0, rng=0), "xor: noise is a standard deviation and must be >= 0"),
        (lambda: xor(n=8, noise=0.1), "xor: needs rng"),
        (lambda: two_spirals(0, 0.1, 0), "two_spirals: n_per_class must be a whole number >= 1"),
        (lambda: two_spirals(10, -0.1, 0), "two_spirals: noise .* must be >= 0"),
        (lambda: two_spirals(10, 0.1, 0, turns=0), "two_spirals: turns must be > 0"),
        (lambda: two_spirals(10, 0.1, None), "two_spirals: needs rng"),
        (lambda: sine_sequences(0, 5, 0), "sine_sequences: n must be"),
        (lambda: sine_sequences(3, 0, 0), "sine_sequences: T must be"),
        (lambda: sine_sequences(3, 5, 0, omega=(0.5, 0.1)), r"sine_sequences: omega must be a range \(low, high\)"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_function(make, message):
    """Impossible sizes and negative noise are refused with a message naming the function and what it expects."""
    with pytest.raises(ValueError, match=message):
        make()


# ---------------------------------------------------------------------------------------------
# The digits, shipped in the package.


def test_digits_are_the_1797_uci_images():
    """1797 images of 64 pixels in [0, 1] (multiples of 1/16), labels 0..9 with each digit 174..183 times."""
    x, y = digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert y[:10].tolist() == list(range(10))
    assert round(float((x * 16).sum())) == 561718
    np.testing.assert_array_equal(x[0].reshape(8, 8)[1] * 16, [0, 0, 13, 15, 10, 15, 5, 0])  # the top of a 0


def test_digits_file_and_licence_ship_in_the_package():
    """digits.csv.gz is the exact file from scikit-learn, and LICENSE-digits.txt credits it (CC BY 4.0, with the DOI)."""
    files = resources.files("backprop_ref.data")
    assert hashlib.sha256((files / "digits.csv.gz").read_bytes()).hexdigest() == DIGITS_SHA256
    licence = (files / "LICENSE-digits.txt").read_text(encoding="utf-8")
    for needed in ["Alpaydin", "Kaynak", "CC BY 4.0", "10.24432/C50P49", "scikit-learn", "BSD-3-Clause", "1797"]:
        assert needed in licence


def test_digits_returns_fresh_arrays():
    """Changing the returned arrays does not change the next call's."""
    x, y = digits()
    x[:] = -1.0
    y[:] = -1
    x2, y2 = digits()
    assert x2.min() == 0.0 and y2.min() == 0


# ---------------------------------------------------------------------------------------------
# Splitting.


def test_train_test_split_partitions_the_examples(xp, rng):
    """Every example lands in exactly one part, with its own label; the test part has round(fraction * N) of them."""
    x = xp.asarray(np.arange(30.0).reshape(10, 3, 1))  # (N, T, D) works too
    y = xp.asarray(np.arange(10))
    x_train, x_test, y_train, y_test = train_test_split(x, y, 0.3, rng)
    assert x_train.shape == (7, 3, 1) and x_test.shape == (3, 3, 1)
    np.testing.assert_array_equal(np.sort(to_host(xp.concatenate([y_train, y_test]))), np.arange(10))
    np.testing.assert_array_equal(to_host(x_test[:, 0, 0]), 3 * to_host(y_test))
    np.testing.assert_array_equal(to_host(x_train[:, 0, 0]), 3 * to_host(y_train))


def test_train_test_split_is_deterministic_and_shuffles():
    """The same seed splits the same way; another seed differently; the order is shuffled."""
    x, y = np.arange(100.0)[:, None], np.arange(100)
    a, b, c = (train_test_split(x, y, 0.2, s)[3] for s in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(np.sort(a), a)


@pytest.mark.parametrize("fraction, n", [(0.0, 10), (1.0, 10), (0.01, 10), (0.5, 1)])
def test_train_test_split_refuses_an_empty_part(fraction, n):
    """A fraction outside (0, 1), or one that leaves no train or no test example, is a ValueError."""
    with pytest.raises(ValueError, match="train_test_split: "):
        train_test_split(np.zeros((n, 2)), np.zeros(n), fraction, 0)
