"""The lesson 7 widget and pictures: label noise, held-out accuracy and the confusion matrix, recomputed here."""
import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.widgets import ocr


def _numbers(status):
    """(noise, accuracy, right, of, labels right) read off the status line."""
    m = re.match(r"noise = (\S+) \| held-out accuracy (\S+)% \((\d+) of (\d+)\), training labels right (\S+)%;", status)
    assert m, status
    return float(m[1]), float(m[2]) / 100, int(m[3]), int(m[4]), float(m[5]) / 100


def _held_out_accuracy_by_hand(noise, seed=0):
    """The widget's experiment written out: split, make labels random, train by SGD on mlp_loss, test."""
    x, y = bp.data.digits()
    x_train, x_test, y_train, y_test = bp.data.train_test_split(x, y, 0.2, 0)
    rng = np.random.default_rng(seed)
    y_noisy = y_train.copy()
    picked = rng.choice(len(y_train), size=round(noise * len(y_train)), replace=False)
    y_noisy[picked] = rng.integers(0, 10, size=len(picked))
    rng = np.random.default_rng(seed)  # training draws from a generator of its own
    weights = bp.init_mlp([64, 32, 10], rng)
    for _ in range(10):
        order = rng.permutation(len(y_train))
        for start in range(0, len(y_train), 32):
            b = order[start : start + 32]
            _, grads = bp.mlp_loss(weights, x_train[b], y_noisy[b], ["tanh", "identity"])
            for W, dW in zip(weights, grads):
                W -= 0.1 * dW
    predicted = bp.mlp_forward(x_test, weights, ["tanh", "identity"])[0].argmax(axis=1)
    return float((predicted == y_test).mean()), float((y_noisy == y_train).mean())


def my_classifier_grads(x, y, weights):
    """A learner's own gradient (not the reference's code)."""
    a1 = np.tanh(x @ weights[0][:-1] + weights[0][-1])
    logits = a1 @ weights[1][:-1] + weights[1][-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = (p - np.eye(10)[y]) / len(y)
    dz1 = dz2 @ weights[1][:-1].T * (1 - a1**2)
    return [np.vstack([x.T @ dz1, dz1.sum(axis=0)]), np.vstack([a1.T @ dz2, dz2.sum(axis=0)])]


def test_the_first_control_is_the_noise_slider_and_it_reaches_the_collapse():
    """The lesson asks where the accuracy collapses: at noise = 1, so the slider must get there."""
    w = ocr.label_noise_explorer()
    slider = next(iter(w.controls.values()))
    assert isinstance(slider, widgets.FloatSlider) and (slider.min, slider.max) == (0.0, 1.0)
    assert slider.step == 0.05  # 0.95 too: the last level before the collapse
    assert "bp-ocr-noise" in w._dom_classes and "bp-widget" in w._dom_classes
    w.controls["noise"].value = 1.0
    assert _numbers(w.status.value)[0] == 1.0


@pytest.mark.parametrize("noise", [0.0, 0.3, 0.8])
def test_the_status_gives_the_held_out_accuracy_of_a_network_trained_on_noisy_labels(noise):
    w = ocr.label_noise_explorer()
    w.controls["noise"].value = noise
    shown, accuracy, right, of, labels_right = _numbers(w.status.value)
    expected_accuracy, expected_labels_right = _held_out_accuracy_by_hand(noise)
    assert shown == noise and of == 359 and right == round(expected_accuracy * 359)
    assert accuracy == pytest.approx(expected_accuracy, abs=5e-4)
    assert labels_right == pytest.approx(expected_labels_right, abs=5e-4)
    assert abs(labels_right - (1 - 0.9 * noise)) < 0.03  # a random label is right 1 time in 10
    assert "using the reference classifier_grads" in w.status.value


def test_noise_costs_accuracy_but_the_network_beats_its_labels():
    w = ocr.label_noise_explorer()
    clean = _numbers(w.status.value)[1]
    w.controls["noise"].value = 0.5
    _, half, _, _, labels_right = _numbers(w.status.value)
    w.controls["noise"].value = 0.9
    _, most, _, _, _ = _numbers(w.status.value)
    assert clean > 0.93 and half > labels_right + 0.2 and most < half


def test_each_noise_level_is_trained_once():
    calls = []

    def counting(x, y, weights):
        calls.append(1)
        return ocr.reference_classifier_grads(x, y, weights)

    w = ocr.label_noise_explorer(counting)
    w.controls["noise"].value = 0.2
    first = len(calls)
    w.controls["noise"].value = 0.0
    w.controls["noise"].value = 0.2
    assert len(calls) == first and first > 0


def test_the_learners_gradient_is_used_and_said_so():
    w = ocr.label_noise_explorer(my_classifier_grads)
    assert "using your classifier_grads" in w.status.value
    assert _numbers(w.status.value)[1] == pytest.approx(_held_out_accuracy_by_hand(0.0)[0], abs=5e-4)


def test_a_wrong_gradient_shows_in_the_accuracy():
    w = ocr.label_noise_explorer(lambda x, y, weights: [-g for g in my_classifier_grads(x, y, weights)])
    assert _numbers(w.status.value)[1] < 0.5


def test_an_unwritten_gradient_falls_back_to_the_reference():
    def classifier_grads(x, y, weights):
        raise NotImplementedError()

    w = ocr.label_noise_explorer(classifier_grads)
    assert "using the reference classifier_grads: write yours above" in w.status.value
    assert _numbers(w.status.value)[1] == pytest.approx(_held_out_accuracy_by_hand(0.0)[0], abs=5e-4)


def _label_frequencies(noise):
    """freq[c, j]: the fraction of the lesson's training images of digit c labelled j, labels drawn as the widget draws them."""
    _, _, y_train, _ = ocr.digits_split()
    noisy = ocr.noisy_labels(y_train, noise, np.random.default_rng(0))
    return ocr.confusion_matrix(y_train, noisy) / np.bincount(y_train, minlength=10)[:, None]


@pytest.mark.parametrize("noise", [0.5, 0.8, 0.9])
def test_the_right_label_stays_the_most_frequent_though_most_labels_are_wrong(noise):
    """The lesson's claim: what counts is the right label against each wrong one, not against all of them.

    For the images of one digit the right label's frequency is 1 - 0.9 noise, each wrong one's 0.1 noise."""
    freq = _label_frequencies(noise)
    right, wrong = np.diag(freq), freq[~np.eye(10, dtype=bool)].reshape(10, 9)
    assert np.all(right > wrong.max(axis=1))  # for every digit, the right label is still the most frequent
    assert right.mean() == pytest.approx(1 - 0.9 * noise, abs=0.03)
    assert wrong.mean() == pytest.approx(0.1 * noise, abs=0.01)
    if noise >= 0.8:
        assert right.mean() < 0.5  # ... though most labels are wrong


def test_at_noise_1_the_labels_say_nothing():
    freq = _label_frequencies(1.0)
    assert np.diag(freq).mean() == pytest.approx(0.1, abs=0.02)  # the right label as frequent as each wrong one
    assert np.abs(freq - 0.1).max() < 0.1  # every digit's labels spread evenly over the ten


def test_accuracy_holds_while_the_right_label_leads_and_collapses_at_noise_1():
    """The lesson's numbers: at 0.9, 81% of the labels are wrong and the network is still far above guessing;
    at 1 it is down to guessing (within the chance of a random labelling; 10% on average)."""
    w = ocr.label_noise_explorer()
    w.controls["noise"].value = 0.9
    _, at_09, _, _, right_09 = _numbers(w.status.value)
    w.controls["noise"].value = 1.0
    _, at_1, _, _, right_1 = _numbers(w.status.value)
    assert right_09 < 0.25 and at_09 > 0.45 and at_09 > 2 * right_09
    assert abs(right_1 - 0.1) < 0.02 and at_1 < 0.25 and at_1 < at_09 / 2


def test_noisy_labels_replace_the_asked_fraction():
    y = np.arange(1000) % 10
    noisy = ocr.noisy_labels(y, 0.3, np.random.default_rng(0))
    assert noisy.shape == y.shape and np.array_equal(ocr.noisy_labels(y, 0.0, np.random.default_rng(0)), y)
    assert 0.3 * 0.8 < (noisy != y).mean() < 0.3 * 1.0 and set(noisy) <= set(range(10))


def test_the_confusion_matrix_counts_true_against_predicted():
    y = np.array([0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 2, 1, 2, 0, 2])
    counts = ocr.confusion_matrix(y, predicted, classes=3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 2]]
    assert counts.sum() == len(y) and np.trace(counts) == (y == predicted).sum()


def _texts(fig):
    return [t.get_text() for ax in fig.get_axes() for t in ax.texts] + [ax.get_title() for ax in fig.get_axes()]


def test_the_pictures_show_the_misclassified_digits():
    x, y = bp.data.digits()
    predicted = y.copy()
    predicted[[3, 10, 20]] = (y[[3, 10, 20]] + 1) % 10
    fig = ocr.show_errors(x, y, predicted)
    texts = _texts(fig)
    assert f"true {y[3]}\nsaid {predicted[3]}" in texts and f"3 of {len(y)} held-out digits wrong" in texts
    assert sum(t.startswith("true") for t in texts) == 3
    assert "1" in texts  # the confusion matrix writes in its off-diagonal counts
    plt.close(fig)
    fig = ocr.show_errors(x, y, y)
    assert sum(t.startswith("true") for t in _texts(fig)) == 0
    plt.close(fig)
    fig = ocr.show_digits(x, y, count=12, cols=6)
    assert _texts(fig)[:12] == [str(v) for v in y[:12]]
    plt.close(fig)


def test_the_confusion_matrix_writes_its_diagonal_too():
    """The lesson says a perfect classifier has numbers on the diagonal only: the diagonal has its numbers."""
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 0, 1, 1, 1, 2, 2, 2, 0])
    counts = ocr.confusion_matrix(y, predicted, classes=3)
    fig, ax = plt.subplots()
    ocr.plot_confusion(ax, counts)
    written = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert written == {(i, j): str(counts[i, j]) for i, j in zip(*np.nonzero(counts))}
    assert {written[(i, i)] for i in range(3)} == {"2", "2", "3"}
    colours = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_color() for t in ax.texts}
    assert all(colours[(i, i)] != "crimson" for i in range(3)) and colours[(0, 1)] == "crimson"
    plt.close(fig)
