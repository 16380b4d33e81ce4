"""The lesson 5 widget: training on two spirals with the learner's mlp_backward, checked step by step
against a network, a backward pass and gradient descent written out here in plain NumPy."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.widgets import static_backprop


def _not_written(x, weights, dout):
    raise NotImplementedError()


def _forward(x, weights):
    """Every layer's input and output: tanh on hidden layers, identity on the last."""
    inputs, outputs, a = [], [], x
    for l, W in enumerate(weights):
        inputs.append(a)
        z = a @ W[:-1] + W[-1]
        a = np.tanh(z) if l < len(weights) - 1 else z
        outputs.append(a)
    return inputs, outputs


def _loss(logits, y):
    """Mean softmax cross-entropy, and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    p[np.arange(n), y] -= 1
    return loss, p / n


def _grads(x, y, weights):
    inputs, outputs = _forward(x, weights)
    _, da = _loss(outputs[-1], y)
    grads = [None] * len(weights)
    for l in reversed(range(len(weights))):
        dz = da * (1 - outputs[l] ** 2) if l < len(weights) - 1 else da
        grads[l] = np.vstack([inputs[l].T @ dz, dz.sum(axis=0)])
        da = dz @ weights[l][:-1].T
    return grads


def _gradient_descent(weights, x, y, lr, steps):
    """`steps` full-batch gradient-descent steps, W <- W - lr * dW: lesson 1's rule, all that lesson 5 has taught."""
    weights = [W.copy() for W in weights]
    for _ in range(steps):
        weights = [W - lr * dW for W, dW in zip(weights, _grads(x, y, weights))]
    return weights


def _drawn(status):
    """(epoch, loss, accuracy in %) from the status line."""
    match = re.search(r" \| epoch (\d+), loss ([\d.]+), accuracy (\d+)%$", status)
    assert match, status
    return int(match.group(1)), float(match.group(2)), int(match.group(3))


def _expected(x, y, weights):
    logits = _forward(x, weights)[1][-1]
    return _loss(logits, y)[0], 100 * np.mean(logits.argmax(axis=1) == y)


def test_controls_a_slider_first_then_play_and_step():
    w = static_backprop.spiral_trainer(_not_written)
    first = next(iter(w.controls.values()))
    assert isinstance(first, widgets.FloatSlider) and first.readout_format == ".2f" and not first.continuous_update
    assert list(w.controls) == ["lr", "hidden", "layers"]
    row = w.children[0].children
    assert row[0] is first and w.play in row and w.step_button in row
    assert {"bp-widget", "bp-spirals"} <= set(w._dom_classes)
    assert "bp-status" in w.status._dom_classes


def test_the_untrained_network_is_drawn_with_its_loss_and_accuracy():
    w = static_backprop.spiral_trainer(_not_written)
    x, y = static_backprop.spirals()
    assert x.shape == (200, 2) and set(np.unique(y)) == {0, 1}
    assert w.status.value.startswith("lr = 1.00, hidden = 16, layers = 2 | epoch 0, ")
    epoch, loss, accuracy = _drawn(w.status.value)
    expected_loss, expected_accuracy = _expected(x, y, w.run.weights)
    assert epoch == 0 and w.run.epoch == 0
    assert loss == pytest.approx(expected_loss, abs=1e-3) and accuracy == pytest.approx(expected_accuracy, abs=0.5)
    assert [W.shape for W in w.run.weights] == [(3, 16), (17, 16), (17, 2)]


def test_step_trains_one_chunk_of_gradient_descent_with_the_gradients_of_the_given_backward():
    """Lesson 5 comes before the optimisers of lesson 6: the trainer uses the rule taught so far."""
    w = static_backprop.spiral_trainer(_not_written)
    x, y = static_backprop.spirals()
    start = [W.copy() for W in w.run.weights]
    w.step_button.click()
    chunk = static_backprop.EPOCHS_PER_TICK
    expected = _gradient_descent(start, x, y, lr=static_backprop.LR, steps=chunk)
    for got, want in zip(w.run.weights, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    epoch, loss, accuracy = _drawn(w.status.value)
    expected_loss, expected_accuracy = _expected(x, y, expected)
    assert epoch == chunk and loss == pytest.approx(expected_loss, abs=1e-3)
    assert accuracy == pytest.approx(expected_accuracy, abs=0.5)
    assert len(w.run.history) == chunk and w.run.history[0] == pytest.approx(_expected(x, y, start)[0])


def test_the_learners_backward_is_the_one_at_work():
    calls = []

    def frozen(x, weights, dout):  # a backward that says nothing moves: the network must not learn
        calls.append(len(weights))
        return np.zeros_like(x), [np.zeros_like(W) for W in weights]

    w = static_backprop.spiral_trainer(frozen)
    before = w.status.value
    w.step_button.click()
    assert w.note.value == "using your mlp_backward"
    assert calls and set(calls) == {3}
    assert _drawn(w.status.value)[0] == static_backprop.EPOCHS_PER_TICK
    assert _drawn(w.status.value)[1:] == _drawn(before)[1:]  # same loss, same accuracy


def test_an_unwritten_backward_falls_back_to_the_reference_and_says_so():
    w = static_backprop.spiral_trainer(_not_written)
    assert "using the reference mlp_backward" in w.note.value
    loss0 = _drawn(w.status.value)[1]
    for _ in range(20):
        w.step_button.click()
    epoch, loss, accuracy = _drawn(w.status.value)
    assert epoch == 20 * static_backprop.EPOCHS_PER_TICK and loss < 0.5 * loss0 and accuracy > 95


def test_the_reference_backward_matches_plain_numpy():
    x, y = static_backprop.spirals()
    weights = bp.init_mlp([2, 5, 4, 2], np.random.default_rng(3))
    logits = _forward(x, weights)[1][-1]
    dout = _loss(logits, y)[1]
    dx, grads = static_backprop.reference_mlp_backward(x, weights, dout)
    assert dx.shape == x.shape
    for got, want in zip(grads, _grads(x, y, weights)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_play_ticks_train_and_a_new_architecture_starts_over():
    w = static_backprop.spiral_trainer(_not_written)
    w.play.value += 1
    w.play.value += 1
    assert _drawn(w.status.value)[0] == 2 * static_backprop.EPOCHS_PER_TICK
    assert w.seconds_per_tick > 0  # measured (no bound on it: a busy machine is slow, not wrong)
    w.controls["hidden"].value = 6
    assert w.status.value.startswith("lr = 1.00, hidden = 6, layers = 2 | epoch 0, ")
    assert [W.shape for W in w.run.weights] == [(3, 6), (7, 6), (7, 2)]
    w.controls["layers"].value = 3
    assert [W.shape for W in w.run.weights] == [(3, 6), (7, 6), (7, 6), (7, 2)]
    assert _drawn(w.status.value)[0] == 0


def test_the_learning_rate_changes_the_optimiser_and_is_marked_once_training_has_begun():
    w = static_backprop.spiral_trainer(_not_written)
    w.controls["lr"].value = 0.5
    assert w.run.lr == 0.5 and w.run.lr_changes == []  # nothing trained yet: nothing to mark
    assert w.status.value.startswith("lr = 0.50, hidden = 16, layers = 2 | epoch 0, ")
    w.step_button.click()
    w.controls["lr"].value = 2.0
    assert w.run.lr == 2.0 and w.run.lr_changes == [static_backprop.EPOCHS_PER_TICK]
    assert w.status.value.startswith("lr = 2.00, ")


def test_a_backward_that_blows_up_the_weights_is_reported_and_stops_training():
    def broken(x, weights, dout):
        return np.zeros_like(x), [np.full_like(W, np.nan) for W in weights]

    w = static_backprop.spiral_trainer(broken)
    w.step_button.click()
    assert "diverged" in w.status.value
    epoch = w.run.epoch
    w.step_button.click()
    assert w.run.epoch == epoch
    w.controls["lr"].value = 0.5  # starts over
    assert w.status.value.startswith("lr = 0.50, hidden = 16, layers = 2 | epoch 0, ") and not w.run.diverged


def test_play_stop_trains_nothing():
    w = static_backprop.spiral_trainer(_not_written)
    w.play.value = 3
    w.play.value = 0  # the stop button
    assert _drawn(w.status.value)[0] == static_backprop.EPOCHS_PER_TICK


def test_the_boundary_is_a_probability_on_the_grid():
    w = static_backprop.spiral_trainer(_not_written)
    p = w.run.probabilities()
    assert p.shape == (static_backprop.GRID, static_backprop.GRID) and np.all((p >= 0) & (p <= 1))


def _train(w, ticks):
    for _ in range(ticks):
        w.step_button.click()
    return _drawn(w.status.value)


def test_a_new_network_starts_over_at_the_starting_learning_rate():
    """The lesson raises lr while a network trains, then asks for smaller networks: each starts at lr 1 again."""
    w = static_backprop.spiral_trainer(_not_written)
    _train(w, 2)
    w.controls["lr"].value = 5.0
    _train(w, 1)
    w.controls["hidden"].value = 4
    assert w.controls["lr"].value == static_backprop.LR and w.run.lr == static_backprop.LR
    assert w.status.value.startswith("lr = 1.00, hidden = 4, layers = 2 | epoch 0, ")
    w.controls["lr"].value = 4.0
    w.controls["layers"].value = 1
    assert w.run.lr == static_backprop.LR and [W.shape for W in w.run.weights] == [(3, 4), (5, 2)]
    assert w.status.value.startswith("lr = 1.00, hidden = 4, layers = 1 | epoch 0, ")


def test_a_rebuilt_network_is_drawn_once():
    w = static_backprop.spiral_trainer(_not_written)
    drawn = []
    w.draw = lambda fig, **values: drawn.append(values) or "epoch 0, loss 0.000, accuracy 0%"
    w.controls["lr"].value = 3.0
    w.controls["hidden"].value = 8
    assert drawn[-1] == {"lr": static_backprop.LR, "hidden": 8, "layers": 2} and len(drawn) == 2


@pytest.mark.parametrize("hidden, layers", [(8, 2), (4, 2), (4, 1), (16, 1), (4, 4), (48, 2), (16, 4)])
def test_the_prompts_networks_learn_after_the_learning_rate_was_raised(hidden, layers):
    """Every network the lesson asks for still learns after lr was raised on the one before: none is dead."""
    w = static_backprop.spiral_trainer(_not_written)
    _train(w, 2)
    w.controls["lr"].value = 5.0  # the lesson's "raise lr while it trains"
    _train(w, 2)
    w.controls["hidden"].value, w.controls["layers"].value = hidden, layers
    _, loss0, _ = _drawn(w.status.value)
    epoch, loss, _ = _train(w, 12)
    assert epoch == 12 * static_backprop.EPOCHS_PER_TICK and not w.run.diverged
    assert loss < 0.95 * loss0  # it learns (a dead network keeps its loss, a diverging one loses it)
