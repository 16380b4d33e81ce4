"""Lesson 7 (optical character recognition): the classifier's gradients and its held-out accuracy."""
import functools

import numpy as np

from ...activations import softmax as _softmax
from ...backend import to_host as _to_host
from ...data import digits_for_grading as _digits_for_grading
from ...losses import softmax_cross_entropy as _softmax_cross_entropy
from ...mlp import mlp_backward as _mlp_backward
from ...mlp import mlp_forward as _mlp_forward
from ..core import AtLeast, Case, Exercise, Gradient, Mistake, Part, WrongReturn
from ._common import (fit_then_predict, learner_grads, mlp_activations, predicted_array, random_mlp_weights, stack,
                      told_apart, unstack)

# ---------------------------------------------------------------------------------------------
# classifier_grads(x, y, weights) -> grads: the gradient of L = softmax cross-entropy (mean over the batch) of
# an MLP with tanh hidden layers and an identity output layer (the logits). grads is a list shaped like
# weights; it is graded in two parts: the output layer's dW (where (p - Y) / N enters) and the hidden layers'
# (backprop through tanh), the latter stacked as in mlp_backward: G[l, i, j] = grads[l][i, j], zero-padded.


def split_grads(implementation):
    """The function the grader calls for classifier_grads: the learner's, its list of grads split into the
    output layer's dW_out and the hidden layers' dW stacked (dW_hidden)."""
    if getattr(implementation, "_splits_grads", False):
        return implementation

    @functools.wraps(implementation)
    def split(x, y, weights):
        shapes = [tuple(W.shape) for W in weights]  # before the learner's code can change weights
        grads = implementation(x, y, weights)
        if grads is None:
            raise WrongReturn("classifier_grads returned None instead of grads: did you forget `return grads`?")
        stacked = learner_grads(grads, shapes)
        if isinstance(stacked, WrongReturn):
            raise stacked  # both parts grade the same list
        if [tuple(np.shape(_to_host(g))) for g in grads] != shapes:
            raise WrongReturn("grads is in reverse order (output layer first): grads[l] must be the gradient of "
                              "weights[l], first layer first; reverse the list you built going backward")
        arrays = unstack(stacked, shapes)  # a list of arrays shaped like the weights
        return arrays[-1], stack(arrays[:-1])

    split._splits_grads = True
    return split


def _classifier_case(rng, dims):
    N, sizes = dims["N"], dims["sizes"]
    C = sizes[-1]
    weights = random_mlp_weights(rng, sizes)
    x, y = rng.normal(size=(N, sizes[0])), rng.integers(0, C, size=N)
    shapes, activations = [W.shape for W in weights], mlp_activations(len(weights))
    W_out, G = weights[-1].copy(), stack(weights[:-1])  # copies: central differences perturb these

    def loss():
        logits = _mlp_forward(x, unstack(G, shapes[:-1]) + [W_out], activations)[0]
        return _softmax_cross_entropy(logits, y)[0]

    logits, caches = _mlp_forward(x, weights, activations)
    _, dlogits = _softmax_cross_entropy(logits, y)
    grads = _mlp_backward(dlogits, caches)[1]
    return Case(
        args=(x, y, weights),
        targets={"dW_out": Gradient(loss, W_out), "dW_hidden": Gradient(loss, G)},
        reference={"dW_out": grads[-1], "dW_hidden": stack(grads[:-1])},
        label=f"N={N}, layer sizes {' -> '.join(str(s) for s in sizes)}",
        data={"x": x, "y": y, "weights": weights},
    )


def _classifier_hidden_dims(rng):
    """One or two hidden layers; a batch of 1, a single input, a hidden layer of 1 unit, two classes.
    Never C = 1: one class has p = 1 and every gradient 0, which any answer would match."""
    def s():
        return int(rng.integers(2, 7))

    return [
        {"N": s(), "sizes": [s(), s(), s(), s() + 1]},
        {"N": s(), "sizes": [s(), s(), s()]},
        {"N": 1, "sizes": [s(), s(), s()]},
        {"N": s(), "sizes": [1, s(), 1, 2]},
    ]


def _dlogits(logits, y, kind):
    """The loss gradient at the logits, right (kind="right") or with one of the learners' mistakes."""
    N, C = logits.shape
    p, Y = _softmax(logits), np.eye(C)[y]
    if kind == "columns":  # Y[:, y] = 1: every row gets a 1 in every label's column
        Y = np.zeros((N, C))
        Y[:, y] = 1.0
    if kind == "batch":  # the softmax normalised over the batch (axis 0)
        e = np.exp(logits - logits.max(axis=0, keepdims=True))
        p = e / e.sum(axis=0, keepdims=True)
    return {"right": (p - Y) / N, "columns": (p - Y) / N, "batch": (p - Y) / N, "no 1/N": p - Y, "p": p / N,
            "numbers": (p - y[:, None]) / N, "N * C": (p - Y) / (N * C), "sign": (Y - p) / N}[kind]


def _classifier_with(c, dlogits="right", derivative="a", bias="sum", output_tanh=False, reverse=False):
    """The gradients with one mistake: the loss gradient (see _dlogits); the hidden tanh's derivative ("a":
    1 - a**2, right; "z": 1 - z**2; "tanh(a)": 1 - tanh(a)**2; "none"); the bias rows ("sum", right; "mean";
    "first": the first example's; "zero"); tanh' on the identity output layer; grads reversed."""
    x, y, weights = c.data["x"], c.data["y"], c.data["weights"]
    L = len(weights)
    inputs, pre = [], []
    a = x
    for l, W in enumerate(weights):
        inputs.append(a)
        pre.append(a @ W[:-1] + W[-1])
        a = np.tanh(pre[-1]) if l < L - 1 else pre[-1]
    grads = [None] * L
    dz = _dlogits(pre[-1], y, dlogits)
    if output_tanh:
        dz = dz * (1 - np.tanh(pre[-1]) ** 2)
    for l in reversed(range(L)):
        row = {"sum": dz.sum(axis=0), "mean": dz.mean(axis=0), "first": dz[0], "zero": np.zeros(dz.shape[1])}[bias]
        grads[l] = np.vstack([inputs[l].T @ dz, row])
        if l > 0:
            da, z, out = dz @ weights[l][:-1].T, pre[l - 1], inputs[l]
            dz = da * {"a": 1 - out**2, "z": 1 - z**2, "tanh(a)": 1 - np.tanh(out) ** 2, "none": 1.0}[derivative]
    if reverse:
        if [g.shape for g in grads] != [g.shape for g in grads[::-1]]:
            raise ValueError("reversed grads have other shapes: the grader says so before any comparison")
        grads = grads[::-1]
    return {"dW_out": grads[-1], "dW_hidden": stack(grads[:-1])}


def _with(**mistake):
    return lambda c: _classifier_with(c, **mistake)


CLASSIFIER_GRADS = Exercise(
    id="classifier_grads",
    signature="classifier_grads(x, y, weights) -> grads   # L = softmax cross-entropy of the logits "
              "mlp(x) (tanh hidden layers, identity output), mean over the batch; x: (N, D), y: (N,) labels "
              "0..C-1; weights[l]: (D_l + 1, D_(l+1)), last row the bias; grads: list, grads[l] shaped like weights[l]",
    lesson="07_ocr",
    outputs=("dW_out", "dW_hidden"),
    parts=(Part("dW_out", 1, ("dW_out",)), Part("dW_hidden", 2, ("dW_hidden",))),
    make_case=_classifier_case,
    visible_dims=({"N": 6, "sizes": [5, 4, 4, 3]},),
    hidden_dims=_classifier_hidden_dims,
    shape_names={"dW_out": "(H + 1, C), the shape of weights[-1]",
                 "dW_hidden": "(L - 1, R, M): grads[:-1] padded with zeros and stacked, entry (l, i, j) is "
                              "grads[l][i, j]"},
    mistakes=told_apart(
        Mistake("the 1/N is missing: L is a mean over the N examples of the batch, so the gradient at the "
                "logits is (p - Y) / N", _with(dlogits="no 1/N")),
        Mistake("the gradient at the logits is p / N: subtract the one-hot labels, (p - Y) / N with "
                "Y[n, y[n]] = 1", _with(dlogits="p")),
        Mistake("the labels y are subtracted as numbers (p - y[:, None]): turn them into one-hot rows first, "
                "Y = np.eye(C)[y], then (p - Y) / N", _with(dlogits="numbers")),
        Mistake("the one-hot labels are built with Y[:, y] = 1, which puts a 1 in every row for every label "
                "of the batch: use Y[np.arange(N), y] = 1 (or Y = np.eye(C)[y])", _with(dlogits="columns")),
        Mistake("the softmax is taken over the batch (axis 0): each example's C logits are normalised "
                "together, along axis 1 (each row of p sums to 1)", _with(dlogits="batch")),
        Mistake("the gradient is divided by N * C (a mean over every entry): L sums over the C classes and "
                "averages over the N examples, so the gradient at the logits is (p - Y) / N",
                _with(dlogits="N * C")),
        Mistake("the signs are flipped: the gradient at the logits is (p - Y) / N, probabilities minus labels "
                "(and a training step goes against it)", _with(dlogits="sign")),
        Mistake("the tanh derivative is missing: going back through a hidden layer, dz = da * (1 - a**2), "
                "with a = tanh(z) the layer's output", _with(derivative="none")),
        Mistake("tanh' is taken as 1 - z**2 with z the pre-activation: tanh'(z) = 1 - tanh(z)**2 = 1 - a**2, "
                "with a = tanh(z) the layer's output", _with(derivative="z")),
        Mistake("tanh is applied twice: with a = tanh(z) already the layer's output, tanh'(z) = 1 - a**2, "
                "not 1 - tanh(a)**2", _with(derivative="tanh(a)")),
        Mistake("the bias rows are averaged over the batch: the loss's 1/N is already in (p - Y) / N, so each "
                "bias row is dz summed over the batch, dz.sum(axis=0)", _with(bias="mean")),
        Mistake("the bias rows are not summed over the batch: every example adds its dz to them, "
                "dz.sum(axis=0)", _with(bias="first")),
        Mistake("the bias rows are zero: the last row of each dW is the gradient of the bias, the weight "
                "from the constant-1 unit, dz summed over the batch", _with(bias="zero")),
        Mistake("the output layer is treated as tanh: it is the identity (the logits), so there "
                "dz = (p - Y) / N with no 1 - a**2", _with(output_tanh=True)),
        Mistake("grads is in reverse order (output layer first): grads[l] must be the gradient of weights[l], "
                "first layer first; reverse the list you built going backward", _with(reverse=True)),
    ),
    adapt=split_grads,
)


# ---------------------------------------------------------------------------------------------
# fit_digits: the learner's fit_digits(x_train, y_train, seed) -> predict trains a network on part of the
# digits; predict(x) -> labels on the held-out part must reach an accuracy. The bars are parts of the points.

BARS = (("accuracy_80", 0.80), ("accuracy_92", 0.92))


fit_and_predict = fit_then_predict("fit_digits", "images x (M, 64) to labels (M,)", "labels",
                                   lambda labels, x_test: _labels(labels, x_test.shape[0]), BARS)


def _labels(labels, M):
    """predict's answer as an int array of M labels 0..9, or WrongReturn saying what is wrong with it."""
    labels = predicted_array(labels, "the labels, an int array of shape (M,)", "an array of labels, shape (M,)")
    shape = tuple(labels.shape)
    if shape == (M, 10):
        raise WrongReturn(f"predict(x) returned shape {shape}, one score per class: return the labels, "
                          f"scores.argmax(axis=1), shape ({M},)")
    if shape != (M,):
        hint = ": flatten it, labels.reshape(-1)" if int(np.prod(shape)) == M else ""
        raise WrongReturn(f"predict(x) must return one label per image of x, shape ({M},), got shape {shape}{hint}")
    if labels.dtype.kind not in "iu":
        raise WrongReturn(f"predict(x) must return integer labels 0..9 (argmax gives them), got dtype {labels.dtype}"
                          + (": round or cast with .astype(int)" if labels.dtype.kind == "f" else ""))
    if M and not (0 <= int(labels.min()) and int(labels.max()) <= 9):
        raise WrongReturn(f"predict(x) returned labels outside 0..9 (from {int(labels.min())} to {int(labels.max())})")
    return labels


def _digits_case(rng, dims):
    """Trained on the public digits in a fresh order, judged on the held-out ones (data.digits_for_grading: the
    learner edition that the grader's sandbox reads does not have them). With dims["relabel"], every
    digit's label is renamed by one random permutation of 0..9, in training and held-out alike: a
    fit_digits that learns from x_train and y_train does as well, one that brought its answers along fails."""
    x_public, y_public, x_test, y_test = _digits_for_grading()
    order = rng.permutation(len(y_public))
    x_train, y_train, seed = x_public[order], y_public[order], int(rng.integers(2**31))
    relabel = ""
    if dims.get("relabel"):
        names = rng.permutation(10)
        y_train, y_test = names[y_train], names[y_test]
        relabel = ", the labels renamed (digit d labelled " + " ".join(f"{d}->{n}" for d, n in enumerate(names)) + ")"

    def accuracy(labels):
        return float((labels == y_test).mean())

    M = len(y_test)
    return Case(
        args=(x_train, y_train, seed, x_test),
        targets={name: AtLeast(accuracy, bar, "held-out accuracy", "{:.1%}") for name, bar in BARS},
        reference={name: y_test for name, _ in BARS},
        label=f"{M} held-out digits, fit_digits trained on {len(y_train)} others with seed={seed}{relabel}",
        data={"y_test": y_test},
    )


DIGITS_ACCURACY = Exercise(
    id="fit_digits",
    signature="fit_digits(x_train, y_train, seed) -> predict   # x_train: (N, 64) in [0, 1], y_train: (N,) "
              "labels 0..9; predict(x) -> labels (M,) ints; graded by accuracy on digits it never saw",
    lesson="07_ocr",
    outputs=tuple(name for name, _ in BARS),
    parts=tuple(Part(name, points, (name,)) for (name, _), points in zip(BARS, (1, 2))),
    make_case=_digits_case,
    visible_dims=({},),
    hidden_dims=lambda rng: [{}, {"relabel": True}],
    shape_names={name: "(M,), one label per held-out image" for name, _ in BARS},
    timeout=60.0,
    adapt=fit_and_predict,
)

EXERCISES = (CLASSIFIER_GRADS, DIGITS_ACCURACY)
