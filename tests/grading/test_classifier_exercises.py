"""Mutation suite for lesson 7's exercises. classifier_grads: realistic wrong gradients fail (and are named),
correct ones in different styles pass. fit_digits: a guessing predictor, one trained on wrong gradients
and ones that return the wrong thing fail, with messages that say why; correct ones pass. The slow tests run
them all over many hidden seeds."""
import dataclasses
import time

import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.grading import grade, registry
from backprop_ref.grading.core import AtLeast, Case, _judge_case
from backprop_ref.grading.exercises import classifier
from mutants import assert_fails, assert_passes, soak


# classifier_grads ------------------------------------------------------------------------------------
def _cls(x, y, weights, dlogits="right", derivative="a", bias="sum", output_tanh=False, reverse=False):
    """A learner's loop, with the mistakes switched on by name."""
    L = len(weights)
    acts, zs = [x], []
    for l, W in enumerate(weights):
        z = acts[-1] @ W[:-1] + W[-1]
        zs.append(z)
        acts.append(np.tanh(z) if l < L - 1 else z)
    logits = acts[-1]
    N, C = logits.shape
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    Y = np.zeros((N, C))
    Y[np.arange(N), y] = 1
    if dlogits == "columns":
        Y = np.zeros((N, C))
        Y[:, y] = 1
    if dlogits == "batch":
        e = np.exp(logits - logits.max(axis=0))
        p = e / e.sum(axis=0)
    dz = {"right": (p - Y) / N, "columns": (p - Y) / N, "batch": (p - Y) / N, "no 1/N": p - Y, "p": p / N,
          "numbers": (p - y[:, None]) / N, "N * C": (p - Y) / (N * C), "sign": (Y - p) / N}[dlogits]
    if output_tanh:
        dz = dz * (1 - np.tanh(logits) ** 2)
    grads = []
    for l in reversed(range(L)):
        row = {"sum": dz.sum(axis=0), "mean": dz.mean(axis=0), "first": dz[0], "zero": 0 * dz[0]}[bias]
        grads.append(np.vstack([acts[l].T @ dz, row]))
        if l > 0:
            local = {"a": 1 - acts[l] ** 2, "z": 1 - zs[l - 1] ** 2, "tanh(a)": 1 - np.tanh(acts[l]) ** 2, "none": 1}
            dz = dz @ weights[l][:-1].T * local[derivative]
    return grads if reverse else grads[::-1]


def cls_loop(x, y, weights):
    return _cls(x, y, weights)


def cls_with_ones(x, y, weights):
    """The constant-1 column made explicit, one-hot by comparison, log-softmax by logsumexp."""
    ones = lambda a: np.hstack([a, np.ones((a.shape[0], 1))])
    acts = [x]
    for l, W in enumerate(weights):
        z = ones(acts[-1]) @ W
        acts.append(np.tanh(z) if l < len(weights) - 1 else z)
    logits = acts[-1]
    log_p = logits - np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)) \
        - logits.max(axis=1, keepdims=True)
    Y = (y[:, None] == np.arange(logits.shape[1])).astype(float)
    dz = (np.exp(log_p) - Y) / len(y)
    grads = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        grads[l] = ones(acts[l]).T @ dz
        dz = (dz @ weights[l].T)[:, :-1] * (1 - acts[l] ** 2)
    return grads


def cls_per_example(x, y, weights):
    """One example at a time, the gradients summed, then divided by N."""
    grads = [np.zeros_like(W) for W in weights]
    for n in range(x.shape[0]):
        for g, gn in zip(grads, _cls(x[n : n + 1], y[n : n + 1], weights)):
            g += gn
    return [g / x.shape[0] for g in grads]


def cls_einsum_in_place(x, y, weights):
    acts = [x]
    for l, W in enumerate(weights):
        z = np.einsum("nd,dm->nm", acts[-1], W[:-1]) + W[-1]
        acts.append(np.tanh(z) if l < len(weights) - 1 else z)
    delta = acts[-1] - acts[-1].max(axis=1, keepdims=True)
    np.exp(delta, out=delta)
    delta /= delta.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    grads = [np.empty_like(W) for W in weights]
    for l in reversed(range(len(weights))):
        grads[l][:-1] = np.einsum("nd,nm->dm", acts[l], delta)
        grads[l][-1] = np.einsum("nm->m", delta)
        delta = np.einsum("nm,dm->nd", delta, weights[l][:-1])
        delta *= 1 - acts[l] ** 2
    return tuple(grads)


CLS_CORRECT = [cls_loop, cls_with_ones, cls_per_example, cls_einsum_in_place]


def _cls_mutant(**mistake):
    return lambda x, y, weights: _cls(x, y, weights, **mistake)


def _cls_reshaped(fn):
    return lambda x, y, weights: [fn(g) for g in cls_loop(x, y, weights)]


CLS_MUTANTS = {
    "no 1/N": (_cls_mutant(dlogits="no 1/N"), "the 1/N is missing"),
    "p without Y": (_cls_mutant(dlogits="p"), "the gradient at the logits is p / N"),
    "labels as numbers": (_cls_mutant(dlogits="numbers"), "subtracted as numbers"),
    "one-hot Y[:, y] = 1": (_cls_mutant(dlogits="columns"), "built with Y[:, y] = 1"),
    "softmax over the batch": (_cls_mutant(dlogits="batch"), "the softmax is taken over the batch"),
    "mean over every entry": (_cls_mutant(dlogits="N * C"), "divided by N * C"),
    "sign": (_cls_mutant(dlogits="sign"), "the signs are flipped"),
    "forgot tanh'": (_cls_mutant(derivative="none"), "the tanh derivative is missing"),
    "1 - z**2": (_cls_mutant(derivative="z"), "tanh' is taken as 1 - z**2"),
    "1 - tanh(a)**2": (_cls_mutant(derivative="tanh(a)"), "tanh is applied twice"),
    "bias rows averaged": (_cls_mutant(bias="mean"), "the bias rows are averaged"),
    "bias rows not summed": (_cls_mutant(bias="first"), "the bias rows are not summed"),
    "bias rows zero": (_cls_mutant(bias="zero"), "the bias rows are zero"),
    "tanh' on the output layer": (_cls_mutant(output_tanh=True), "the output layer is treated as tanh"),
    "grads reversed": (_cls_mutant(reverse=True), "grads is in reverse order"),
    "no bias rows": (_cls_reshaped(lambda g: g[:-1]), "it has no bias row"),
    "dW transposed": (_cls_reshaped(lambda g: g.T.copy()), "it looks transposed"),
    "grads as a dict": (lambda x, y, w: dict(enumerate(cls_loop(x, y, w))), "grads must be a list of arrays"),
    "a dW missing": (lambda x, y, w: cls_loop(x, y, w)[1:], "but the network has"),
    "no return": (lambda x, y, w: None, "did you forget `return grads`"),
    "forgot tanh' and no 1/N": (_cls_mutant(derivative="none", dlogits="no 1/N"), None),
}


def test_classifier_grads_has_a_full_suite():
    named = [m for _, m in CLS_MUTANTS.values() if m]
    assert len(CLS_CORRECT) >= 3 and len(named) >= 6 and len(set(named)) == len(named)


@pytest.mark.parametrize("impl", CLS_CORRECT, ids=lambda f: f.__name__)
def test_classifier_grads_correct_variants_pass(impl):
    assert_passes("classifier_grads", impl, seeds=(1, 2))


@pytest.mark.parametrize("name", CLS_MUTANTS)
def test_classifier_grads_mutants_fail_with_their_name(name):
    impl, mistake = CLS_MUTANTS[name]
    assert_fails("classifier_grads", impl, mistake, seeds=(1, 2))


def test_partial_credit_a_forgotten_tanh_derivative_keeps_the_output_layers_point():
    """The output layer's dW does not go through any tanh: the learner who forgets tanh' keeps 1 of 3 points."""
    result = grade("classifier_grads", CLS_MUTANTS["forgot tanh'"][0])
    assert [p.passed for p in result.parts] == [True, False] and result.score == 1, str(result)


def test_the_mistake_fingerprints_without_mistakes_are_the_reference():
    rng = np.random.default_rng(6)
    exercise = classifier.CLASSIFIER_GRADS
    for dims in list(exercise.visible_dims) + exercise.hidden_dims(rng):
        case = exercise.make_case(rng, dims)
        mine = classifier._classifier_with(case)
        for name in exercise.outputs:
            np.testing.assert_allclose(mine[name], case.reference[name], rtol=1e-12, atol=1e-12)


def test_the_reference_gradients_are_mlp_loss_s():
    """The grader's reference is bp.mlp_loss's gradient, split into the output layer and the stacked rest."""
    case = classifier.CLASSIFIER_GRADS.make_case(np.random.default_rng(0), {"N": 5, "sizes": [3, 4, 2, 3]})
    x, y, weights = case.args
    _, grads = bp.mlp_loss(weights, x, y, ["tanh", "tanh", "identity"])
    np.testing.assert_allclose(case.reference["dW_out"], grads[-1], rtol=1e-14)
    np.testing.assert_allclose(case.reference["dW_hidden"][1, :5, :2], grads[1], rtol=1e-14)


# fit_digits ---------------------------------------------------------------------------------------
def _fit(grads_fn, hidden=32, epochs=15, lr=0.5, batch=32, momentum=0.0):
    """fit_digits with a tanh network trained by minibatch SGD (with momentum) on grads_fn's gradients."""

    def fit_digits(x_train, y_train, seed):
        rng = np.random.default_rng(seed)
        sizes = [64, hidden, 10] if hidden else [64, 10]
        weights = bp.init_mlp(sizes, rng)
        velocity = [np.zeros_like(W) for W in weights]
        for _ in range(epochs):
            order = rng.permutation(len(y_train))
            for start in range(0, len(y_train), batch):
                b = order[start : start + batch]
                for W, v, dW in zip(weights, velocity, grads_fn(x_train[b], y_train[b], weights)):
                    v *= momentum
                    v += dW
                    W -= lr * v

        def predict(x):
            return bp.mlp_forward(x, weights, ["tanh"] * (len(weights) - 1) + ["identity"])[0].argmax(axis=1)

        return predict

    return fit_digits


fit_sgd = _fit(cls_loop)
fit_momentum = _fit(cls_einsum_in_place, hidden=48, epochs=10, lr=0.1, batch=64, momentum=0.9)
fit_softmax_regression = _fit(cls_with_ones, hidden=0, epochs=20, lr=1.0)


def fit_full_batch_list(x_train, y_train, seed):
    """Full-batch gradient descent with momentum; predict returns a Python list of ints."""
    rng = np.random.default_rng(seed)
    weights = bp.init_mlp([64, 32, 10], rng)
    velocity = [np.zeros_like(W) for W in weights]
    for _ in range(300):
        for W, v, dW in zip(weights, velocity, cls_loop(x_train, y_train, weights)):
            v[...] = 0.9 * v + dW
            W -= 0.5 * v
    return lambda x: [int(k) for k in bp.mlp_forward(x, weights, ["tanh", "identity"])[0].argmax(axis=1)]


DIGITS_CORRECT = [fit_sgd, fit_momentum, fit_softmax_regression, fit_full_batch_list]


def _guess(x_train, y_train, seed):
    rng = np.random.default_rng(seed)
    return lambda x: rng.integers(0, 10, size=x.shape[0])


def _returning(change):
    """fit_sgd, its predict's labels passed through change: the right network, a wrong answer's form."""

    def fit_digits(x_train, y_train, seed):
        predict = fit_sgd(x_train, y_train, seed)
        return lambda x: change(predict(x))

    return fit_digits


DIGITS_MUTANTS = {
    "guesses": (_guess, "held-out accuracy is"),
    "always the most common label": (lambda x, y, s: (lambda x: np.full(len(x), np.bincount(y).argmax())),
                                     "held-out accuracy is"),
    "trained on p without Y": (_fit(_cls_mutant(dlogits="p")), "held-out accuracy is"),
    "trained with the sign flipped": (_fit(_cls_mutant(dlogits="sign")), "held-out accuracy is"),
    "predict returns scores": (_returning(lambda labels: np.eye(10)[labels]), "one score per class"),
    "predict returns floats": (_returning(lambda labels: labels.astype(float)), "integer labels"),
    "predict returns a column": (_returning(lambda labels: labels[:, None]), "flatten it"),
    "predict returns fewer labels": (_returning(lambda labels: labels[1:]), "one label per image"),
    "predict returns labels 1..10": (_returning(lambda labels: labels + 1), "labels outside 0..9"),
    "predict returns booleans": (_returning(lambda labels: labels > 4), "integer labels"),
    "fit returns the labels": (lambda x, y, s: fit_sgd(x, y, s)(x), "must return predict"),
    "fit returns nothing": (lambda x, y, s: None, "fit_digits returned None"),
    "predict returns nothing": (lambda x, y, s: (lambda x: None), "predict(x) returned None"),
}


@pytest.mark.parametrize("impl", DIGITS_CORRECT, ids=lambda f: f.__name__)
def test_fit_digits_correct_variants_pass(impl):
    assert_passes("fit_digits", impl, seeds=(1,))


@pytest.mark.parametrize("name", DIGITS_MUTANTS)
def test_fit_digits_mutants_fail_and_say_why(name):
    impl, message = DIGITS_MUTANTS[name]
    assert_fails("fit_digits", impl, message, seeds=(1,))


def test_fit_digits_reports_the_accuracy_reached_and_the_bar():
    passed = str(grade("fit_digits", fit_sgd))
    assert "PASS accuracy_92 (held-out accuracy 9" in passed and "at least 92.0% needed)" in passed, passed
    failed = grade("fit_digits", _guess)
    assert failed.score == 0
    text = str(failed)
    assert "accuracy_80 needs at least 80.0%" in text and "accuracy_92 needs at least 92.0%" in text, text
    assert "held-out digits" in text and "seed=" in text, text


def _one_nearest_neighbour_eighth_wrong(x_train, y_train, seed):
    """About 98% right, then every 8th answer made wrong: between 80% and 92%."""

    def predict(x):
        d = (x * x).sum(axis=1)[:, None] - 2 * x @ x_train.T + (x_train * x_train).sum(axis=1)
        labels = y_train[d.argmin(axis=1)]
        labels[::8] = (labels[::8] + 1) % 10
        return labels

    return predict


def test_an_accuracy_between_the_bars_earns_the_first_part_only():
    for hidden, seed in [(False, None), (True, 1), (True, 2)]:
        result = grade("fit_digits", _one_nearest_neighbour_eighth_wrong, hidden=hidden, seed=seed)
        assert [p.passed for p in result.parts] == [True, False] and result.score == 1, str(result)


def test_training_on_the_reference_gradients_is_refused():
    """bp.mlp_loss is an answer key: while fit_digits is graded it raises, and the report says why."""
    fit = _fit(lambda x, y, w: bp.mlp_loss(w, x, y, ["tanh", "identity"])[1])
    result = grade("fit_digits", fit)
    assert not result.passed and "is the course's reference answer" in str(result), str(result)


def test_an_unwritten_fit_digits_is_called_by_its_name():
    def fit_digits(x_train, y_train, seed):
        raise NotImplementedError()

    result = grade("fit_digits", fit_digits)
    assert result.score == 0 and "fit_digits is not written yet" in str(result), str(result)


def test_a_slow_fit_is_stopped(monkeypatch):
    quick = dataclasses.replace(registry.EXERCISES["fit_digits"], timeout=0.3)
    monkeypatch.setitem(registry.EXERCISES, "fit_digits", quick)

    def slow(x_train, y_train, seed):
        time.sleep(5)

    result = grade("fit_digits", slow)
    assert not result.passed and "did not finish within 0.3 s" in str(result)


def test_the_check_trains_on_public_digits_and_judges_on_held_out_ones():
    a, b = (classifier.DIGITS_ACCURACY.make_case(np.random.default_rng(s), {}) for s in (1, 2))
    x_public, _, x_held_out, y_held_out = bp.data.digits_for_grading()
    assert a.args[0].shape == (1438, 64) and a.args[3].shape == (359, 64)
    np.testing.assert_array_equal(a.args[3], x_held_out)
    np.testing.assert_array_equal(a.data["y_test"], y_held_out)
    public = {row.tobytes() for row in x_public}
    assert all(row.tobytes() in public for row in a.args[0]), "a training digit is not a public one"
    assert not np.array_equal(a.args[0], b.args[0]) and a.label != b.label


def _memorised(x_train, y_train, seed):
    """Ignores its training data: the answers it brings along are the digits' true labels (as if learned
    elsewhere, or looked up)."""
    x, y = bp.data.digits()
    table = {row.tobytes(): label for row, label in zip(x, y)}
    return lambda images: np.array([table[row.tobytes()] for row in images])


def test_a_fit_that_ignores_its_training_data_fails_the_hidden_check():
    visible = grade("fit_digits", _memorised)
    assert visible.passed  # the visible check cannot tell: the labels are the true ones
    hidden = grade("fit_digits", _memorised, hidden=True, seed=3)
    assert hidden.score == 0 and "labels renamed" in str(hidden), str(hidden)
    assert grade("fit_digits", fit_sgd, hidden=True, seed=3).passed


def test_an_at_least_target_passes_at_the_bar_and_fails_below_it():
    exercise = classifier.DIGITS_ACCURACY
    target = AtLeast(lambda labels: float(labels.mean()), 0.5, "the mean", "{:.2f}")
    case = Case(args=(), targets={"accuracy_80": target}, reference={}, label="a test case")
    at = _judge_case(exercise, case, {"accuracy_80": np.array([0.0, 1.0])}, None)["accuracy_80"]
    below = _judge_case(exercise, case, {"accuracy_80": np.array([0.0, 0.9])}, None)["accuracy_80"]
    assert at.passed and at.note == "the mean 0.50, at least 0.50 needed"
    assert not below.passed and below.note == "the mean is 0.45 (a test case): accuracy_80 needs at least 0.50"


# many seeds ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_classifier_grads_no_wrong_verdict_over_200_hidden_seeds():
    soak("classifier_grads", CLS_MUTANTS, CLS_CORRECT, exclusive=False)


@pytest.mark.slow
def test_fit_digits_no_wrong_verdict_over_20_hidden_splits():
    """Training takes a fraction of a second per check: 20 fresh splits per variant."""
    soak("fit_digits", DIGITS_MUTANTS, DIGITS_CORRECT, seeds=range(20), exclusive=False)
