"""The lesson 11 widgets. four_optimisers: the four final losses against the update rules and the neuron's loss
written out here, with gradients from central differences. minibatch_spread: the predicted spread from
per-example gradients taken by central differences, the measured one (sampled mini-batches) close to it, and the
learner's functions the ones at work."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import what_backprop_is_not as lesson


def _not_written(*args):
    raise NotImplementedError()


def numbers(status, after):
    """The numbers after ``after`` in the status line."""
    return [float(v) for v in re.findall(r"-?\d+\.\d+", status.split(after, 1)[1])]


# four_optimisers --------------------------------------------------------------------------------
def _loss(w, x, t):
    z = w[0] * x + w[1]  # -t log p - (1 - t) log(1 - p), p = sigmoid(z), in a form that never takes log(0)
    return float(np.mean(np.where(t == 1, np.logaddexp(0, -z), np.logaddexp(0, z))))


def _gradient(w, x, t, h=1e-6):
    return np.array([(_loss(w + h * e, x, t) - _loss(w - h * e, x, t)) / (2 * h) for e in np.eye(2)])


def final_losses(lr, steps, x, t, start=lesson.NEURON_START):
    """Each rule written out (PyTorch's conventions: mu = 0.9, Adam's 0.9, 0.999, 1e-8), from the same start."""
    finals = {}
    for name in ("SGD", "momentum", "Nesterov", "Adam"):
        w, v, m = np.array(start), np.zeros(2), np.zeros(2)
        for k in range(1, steps + 1):
            g = _gradient(w, x, t)
            if name == "SGD":
                w = w - lr * g
            elif name == "momentum":
                v = 0.9 * v + g
                w = w - lr * v
            elif name == "Nesterov":
                v = 0.9 * v + g
                w = w - lr * (g + 0.9 * v)
            else:
                m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                w = w - lr * (m / (1 - 0.9**k)) / (np.sqrt(v / (1 - 0.999**k)) + 1e-8)
        finals[name] = _loss(w, x, t)
    return finals


def test_four_optimisers_controls_a_log_slider_first():
    w = lesson.four_optimisers()
    first = next(iter(w.controls.values()))
    assert isinstance(first, widgets.FloatLogSlider) and list(w.controls) == ["lr", "steps"]
    assert {"bp-widget", "bp-four-optimisers"} <= set(w._dom_classes)
    assert w.status.value.startswith(f"lr = 0.100, steps = {lesson.NEURON_STEPS} | loss after ")


@pytest.mark.parametrize("lr, steps", [(0.1, 60), (0.0251, 20), (1.58, 35)])
def test_the_four_final_losses_follow_the_rules_from_the_same_gradients(lr, steps):
    w = lesson.four_optimisers()
    w.controls["steps"].value = steps
    w.controls["lr"].value = lr
    x, t = lesson.neuron_data()
    expected = final_losses(lr, steps, x, t)
    shown = numbers(w.status.value, f"loss after {steps} steps:")
    assert shown[:4] == pytest.approx(list(expected.values()), abs=2e-4)
    assert shown[4:] == pytest.approx(_gradient(np.array(lesson.NEURON_START), x, t), abs=2e-4)
    assert len(set(np.round(shown[:4], 3))) > 1, "the same gradients, four rules: the paths differ"


def test_the_neuron_loss_and_its_minimum():
    x, t = lesson.neuron_data()
    s = lesson.neuron_surface()
    w = np.array([0.7, -0.3])
    assert s.f(*w) == pytest.approx(_loss(w, x, t), rel=1e-12)
    np.testing.assert_allclose(s.grad(w), _gradient(w, x, t), atol=1e-8)
    np.testing.assert_allclose(_gradient(np.array(s.minimum), x, t), 0, atol=1e-8)


# minibatch_spread ---------------------------------------------------------------------------------
def per_example_oracle(x, y, W, h=1e-6):
    """G[n] by central differences of example n's own loss."""
    def loss(n, W):
        z = np.append(x[n], 1) @ W
        return np.log(np.exp(z - z.max()).sum()) + z.max() - z[y[n]]

    G = np.zeros((len(y),) + W.shape)
    for i in np.ndindex(W.shape):
        E = np.zeros(W.shape)
        E[i] = h
        G[(slice(None),) + i] = [(loss(n, W + E) - loss(n, W - E)) / (2 * h) for n in range(len(y))]
    return G


def test_reference_per_example_grads_is_the_gradient_of_each_examples_loss(rng):
    x, y, W = rng.normal(size=(5, 3)), rng.integers(0, 4, size=5), rng.normal(size=(4, 4))
    np.testing.assert_allclose(lesson.reference_per_example_grads(x, y, W), per_example_oracle(x, y, W), atol=1e-7)


@pytest.mark.parametrize("B", [1, 5, 64])
def test_the_spread_shrinks_like_one_over_sqrt_B_and_the_batches_are_unbiased(B):
    w = lesson.minibatch_spread(_not_written, _not_written)
    w.controls["B"].value = B
    assert w.status.value.startswith(f"B = {B} | spread ")
    x, y = lesson.spirals()
    G = per_example_oracle(x, y, lesson.classifier_weights())
    singles = np.sqrt(((G - G.mean(axis=0)) ** 2).sum(axis=(1, 2)).mean())
    measured, predicted, off = numbers(w.status.value, "|")[:3]
    assert predicted == pytest.approx(singles / np.sqrt(B), abs=1e-4)
    assert measured == pytest.approx(predicted, rel=0.15)  # 400 batches: a few % of chance
    assert off < 0.25 * predicted  # the mean of 400 batches: about predicted / 20 off
    assert "using the reference per_example_grads" in w.children[-1].value
    assert "using the reference predicted_spread" in w.children[-1].value


def test_the_learners_per_example_grads_is_the_one_at_work():
    calls = []

    def yours(x, y, W):
        calls.append(x.shape)
        return np.zeros((len(y),) + W.shape)

    w = lesson.minibatch_spread(yours, lambda G, B: 7.0 / B)
    w.controls["B"].value = 9
    assert calls == [(200, 2)], "run once, when the widget first draws"
    assert w.children[-1].value == "using your per_example_grads; using your predicted_spread"
    assert numbers(w.status.value, "|")[:3] == [0.0, pytest.approx(7.0 / 9, abs=1e-4), 0.0]


def test_a_per_example_grads_of_the_wrong_shape_is_named_and_the_reference_drawn():
    w = lesson.minibatch_spread(lambda x, y, W: np.zeros(W.shape), _not_written)  # the batch axis forgotten
    w.controls["B"].value = 5
    assert w.children[-1].value.startswith("using the reference per_example_grads: yours returned the wrong shape")
    x, y = lesson.spirals()
    G = per_example_oracle(x, y, lesson.classifier_weights())
    singles = np.sqrt(((G - G.mean(axis=0)) ** 2).sum(axis=(1, 2)).mean())
    assert numbers(w.status.value, "|")[1] == pytest.approx(singles / np.sqrt(5), abs=1e-4)
