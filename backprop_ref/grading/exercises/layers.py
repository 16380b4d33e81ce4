"""Exercises on layers: activation backward passes, the dense layer, the bias as a weight, losses, the whole MLP."""
import functools

import numpy as np

from ...activations import relu_backward as _relu_backward
from ...activations import relu_forward as _relu_forward
from ...activations import sigmoid_backward as _sigmoid_backward
from ...activations import sigmoid_forward as _sigmoid_forward
from ...activations import softmax as _softmax
from ...activations import tanh_backward as _tanh_backward
from ...activations import tanh_forward as _tanh_forward
from ...bias import affine as _affine
from ...bias import with_ones as _with_ones
from ...layers import dense_backward as _dense_backward
from ...layers import dense_forward as _dense_forward
from ...losses import mse_loss as _mse_loss
from ...losses import softmax_cross_entropy as _softmax_cross_entropy
from ...mlp import mlp_backward as _mlp_backward
from ...mlp import mlp_forward as _mlp_forward
from ..core import Case, Exercise, Gradient, Mistake, Part, Value
from ._common import (
    VISIBLE_SHAPES, any_shapes, away_from_zero, awkward_dims, label, learner_grads, mlp_activations, random_mlp_weights,
    stack, told_apart, unstack, vjp_targets,
)


# ---------------------------------------------------------------------------------------------
# sigmoid_backward(da, z), tanh_backward(da, z), relu_backward(da, z) -> dz
# The learner gets z, the activation's input, so the derivative is a function of z they compute.


def _activation_case(forward, backward, kink=False):
    def make_case(rng, dims):
        shape = dims["shape"]
        z = rng.normal(scale=2.0, size=shape)
        if kink:  # no central difference may straddle the kink at 0
            z = away_from_zero(z)
        da = rng.normal(size=shape)
        a, cache = forward(z)
        return Case(
            args=(da, z),
            targets={"dz": vjp_targets(lambda z: forward(z)[0], {"z": z}, da)["z"]},
            reference={"dz": backward(da, cache)},
            label=f"z of shape {shape}",
            data={"z": z, "da": da, "a": a},
        )

    return make_case


def _dz(fn):
    """A Mistake's wrong answer dz = fn(da, z, a)."""
    return lambda c: {"dz": fn(c.data["da"], c.data["z"], c.data["a"])}


def _activation_exercise(name, formula, forward, backward, mistakes, kink=False):
    return Exercise(
        id=f"{name}_backward",
        signature=f"{name}_backward(da, z) -> dz   # {formula}; z: the activation's input (not the reference's cache); "
                  f"da, z, dz: any shape (the same)",
        lesson="03_dense_layer",
        outputs=("dz",),
        parts=(Part("dz", 1, ("dz",)),),
        make_case=_activation_case(forward, backward, kink),
        visible_dims=tuple({"shape": s} for s in VISIBLE_SHAPES),
        hidden_dims=lambda rng: [{"shape": s} for s in any_shapes(rng)],
        shape_names={"dz": "the shape of z"},
        mistakes=told_apart(*mistakes),
    )


_FORGOT_DA = ("the upstream gradient is missing: dz = da * {d} (the chain rule multiplies the local "
              "derivative by da, entry by entry)")
_SIGN = "the sign is flipped: dz = da * {d}"

SIGMOID_BACKWARD = _activation_exercise(
    "sigmoid", "a = sigmoid(z), dz = da * sigmoid(z) * (1 - sigmoid(z))", _sigmoid_forward, _sigmoid_backward, (
        Mistake("dz is da * sigmoid(z): that is the forward output, not its derivative; "
                "sigmoid'(z) = sigmoid(z) * (1 - sigmoid(z))", _dz(lambda da, z, a: da * a)),
        Mistake(_FORGOT_DA.format(d="sigmoid(z) * (1 - sigmoid(z))"), _dz(lambda da, z, a: a * (1 - a))),
        Mistake("dz is da * z * (1 - z): the formula a * (1 - a) takes the sigmoid's output a = sigmoid(z), "
                "and this function is given z, its input; compute a = sigmoid(z) first",
                _dz(lambda da, z, a: da * z * (1 - z))),
        Mistake("dz is da * (1 - sigmoid(z)**2): that is the tanh's derivative pattern; "
                "the sigmoid's is sigmoid(z) * (1 - sigmoid(z))", _dz(lambda da, z, a: da * (1 - a * a))),
        Mistake("dz is da * (1 - sigmoid(z)): the factor sigmoid(z) is missing, "
                "sigmoid'(z) = sigmoid(z) * (1 - sigmoid(z))", _dz(lambda da, z, a: da * (1 - a))),
        Mistake(_SIGN.format(d="sigmoid(z) * (1 - sigmoid(z))"), _dz(lambda da, z, a: -da * a * (1 - a))),
    ))

TANH_BACKWARD = _activation_exercise(
    "tanh", "a = tanh(z), dz = da * (1 - tanh(z)**2)", _tanh_forward, _tanh_backward, (
        Mistake("dz is da * (1 - z**2): the formula 1 - a**2 takes the tanh's output a = tanh(z), "
                "and this function is given z, its input; compute a = tanh(z) first",
                _dz(lambda da, z, a: da * (1 - z * z))),
        Mistake(_FORGOT_DA.format(d="(1 - tanh(z)**2)"), _dz(lambda da, z, a: 1 - a * a)),
        Mistake("dz is da * (1 - tanh(z)): tanh(z) must be squared, tanh'(z) = 1 - tanh(z)**2",
                _dz(lambda da, z, a: da * (1 - a))),
        Mistake("dz is da * tanh(z): that is the forward output, not its derivative; tanh'(z) = 1 - tanh(z)**2",
                _dz(lambda da, z, a: da * a)),
        Mistake("dz is da * (1 - tanh(z))**2: square tanh(z) alone, tanh'(z) = 1 - tanh(z)**2",
                _dz(lambda da, z, a: da * (1 - a) ** 2)),
        Mistake("dz is da / cosh(z): tanh'(z) = 1 / cosh(z)**2 (sech squared) = 1 - tanh(z)**2",
                _dz(lambda da, z, a: da / np.cosh(z))),
        Mistake(_SIGN.format(d="(1 - tanh(z)**2)"), _dz(lambda da, z, a: -da * (1 - a * a))),
    ))

RELU_BACKWARD = _activation_exercise(
    "relu", "a = max(z, 0), dz = da where z > 0, else 0", _relu_forward, _relu_backward, (
        Mistake("dz is da * z: the ReLU's derivative is not z but a step, 1 where z > 0 and 0 elsewhere, "
                "so dz = da * (z > 0)", _dz(lambda da, z, a: da * z)),
        Mistake("dz is the mask (z > 0) alone: multiply it by da, dz = da * (z > 0) (the chain rule)",
                _dz(lambda da, z, a: (z > 0) * 1.0)),
        Mistake("the mask is inverted: the gradient flows where z > 0 (where the unit was on), "
                "and is 0 where z < 0", _dz(lambda da, z, a: da * (z < 0))),
        Mistake("dz is da * relu(z): the output relu(z) is not the derivative; use the step (z > 0)",
                _dz(lambda da, z, a: da * a)),
        Mistake("dz is relu(z), the forward output: the backward pass returns da * (z > 0)",
                _dz(lambda da, z, a: a)),
        Mistake("the mask tests da instead of z: the unit was on where its input z > 0, so dz = da * (z > 0)",
                _dz(lambda da, z, a: da * (da > 0))),
        Mistake("dz is da unchanged: the ReLU blocks the gradient where z < 0, dz = da * (z > 0)",
                _dz(lambda da, z, a: da)),
    ), kink=True)


# ---------------------------------------------------------------------------------------------
# dense_backward(dout, cache) -> (dx, dW), cache = (x, W), W: (D + 1, M) with the bias as its last row
def _dense_case(rng, dims):
    N, D, M = dims["N"], dims["D"], dims["M"]
    x, W, dout = rng.normal(size=(N, D)), rng.normal(size=(D + 1, M)), rng.normal(size=(N, M))
    dx, dW = _dense_backward(dout, (x, W))
    targets = vjp_targets(lambda x, W: _dense_forward(x, W)[0], {"x": x, "W": W}, dout)
    return Case(
        args=(dout, (x, W)),
        targets={"dx": targets["x"], "dW": targets["W"]},
        reference={"dx": dx, "dW": dW},
        label=label(dims),
        data={"x": x, "W": W, "dout": dout},
    )


def _with_bias_row(case, row):
    dW = case.reference["dW"].copy()
    dW[-1] = row
    return {"dW": dW}


DENSE_BACKWARD = Exercise(
    id="dense_backward",
    signature="dense_backward(dout, cache) -> (dx, dW)   # cache = (x, W), W: (D + 1, M), last row the bias",
    lesson="03_dense_layer",
    outputs=("dx", "dW"),
    parts=(Part("dx", 1, ("dx",)), Part("dW", 2, ("dW",))),
    make_case=_dense_case,
    visible_dims=({"N": 4, "D": 3, "M": 2},),
    hidden_dims=lambda rng: awkward_dims(rng, ["N", "D", "M"]),
    shape_names={"dx": "(N, D)", "dW": "(D + 1, M)"},
    mistakes=(
        Mistake("your dW looks transposed: it should have one row per input unit (D + 1 rows, the bias last)",
                lambda c: {"dW": c.reference["dW"].T}),
        Mistake("dW has no bias row: the bias is the weight from the constant-1 unit, so dW needs a last row, "
                "the sum over the batch of dout", lambda c: {"dW": c.reference["dW"][:-1]}),
        Mistake("the bias row of dW is averaged over the batch; it should be summed (dout.sum(axis=0))",
                lambda c: _with_bias_row(c, c.data["dout"].mean(axis=0))),
        Mistake("the bias row of dW is not summed over the batch: every example adds its dout to it",
                lambda c: _with_bias_row(c, c.data["dout"][0])),
        Mistake("the bias row of dW is zero: the constant-1 unit's weights get dout summed over the batch",
                lambda c: _with_bias_row(c, 0.0)),
        Mistake("dx includes the bias row's weights: use W[:-1] (the constant-1 unit is not an input)",
                lambda c: {"dx": c.data["dout"] @ c.data["W"].T}),
        Mistake("the signs are flipped", lambda c: {k: -v for k, v in c.reference.items()}),
        Mistake("dW is scaled by 1/N: the dense layer sums over the batch (any 1/N belongs to the loss)",
                lambda c: {"dW": c.reference["dW"] / c.data["x"].shape[0]}),
    ),
)


# ---------------------------------------------------------------------------------------------
# bias_as_weight(x) -> x1: x with a constant-1 column appended, (N, D) -> (N, D + 1)


def _bias_case(rng, dims):
    x = rng.normal(size=(dims["N"], dims["D"]))
    x1 = _with_ones(x)
    return Case(args=(x,), targets={"x1": Value(x1)}, reference={"x1": x1}, label=label(dims), data={"x": x})


def _x1(fn):
    return lambda c: {"x1": fn(c.data["x"], np.ones((c.data["x"].shape[0], 1)))}


BIAS_AS_WEIGHT = Exercise(
    id="bias_as_weight",
    signature="bias_as_weight(x) -> x1   # x: (N, D) -> x1: (N, D + 1), a constant-1 column appended (last)",
    lesson="03_dense_layer",
    outputs=("x1",),
    parts=(Part("x1", 1, ("x1",)),),
    make_case=_bias_case,
    visible_dims=({"N": 4, "D": 3},),
    hidden_dims=lambda rng: awkward_dims(rng, ["N", "D"]),
    shape_names={"x1": "(N, D + 1): one row per example, the constant 1 as the last column"},
    mistakes=told_apart(
        Mistake("the ones are the first column: append them as the last column, so that the bias is the "
                "last row of W (x1 @ W = x @ W[:-1] + W[-1])", _x1(lambda x, ones: np.hstack([ones, x]))),
        Mistake("the appended column holds zeros: the bias unit's activation is always 1",
                _x1(lambda x, ones: np.hstack([x, 0 * ones]))),
        Mistake("a row of ones is appended (an extra example): append a column instead, one 1 per example, "
                "np.concatenate([x, ones], axis=1) with ones of shape (N, 1)",
                _x1(lambda x, ones: np.vstack([x, np.ones((1, x.shape[1]))]))),
        Mistake("x1 is x unchanged: append a column of ones, x1 has shape (N, D + 1)", _x1(lambda x, ones: x)),
        Mistake("1 is added to every entry of x: the constant 1 is a new column, appended after the D inputs",
                _x1(lambda x, ones: x + 1)),
        Mistake("x1 is flat: np.append(x, 1) without an axis flattens x; join a (N, 1) column of ones along "
                "axis=1", _x1(lambda x, ones: np.append(x, 1))),
        Mistake("x1 looks transposed: one row per example, (N, D + 1), the ones as the last column",
                _x1(lambda x, ones: np.hstack([x, ones]).T)),
    ),
)


# ---------------------------------------------------------------------------------------------
# mse_grad(y_hat, y) -> dy_hat for L = (1 / 2N) * sum((y_hat - y)**2), N = y_hat.shape[0]


def _mse_case(rng, dims):
    N, K = dims["N"], dims["K"]
    y_hat, y = rng.normal(size=(N, K)), rng.normal(size=(N, K))
    loss, dy_hat = _mse_loss(y_hat, y)
    return Case(
        args=(y_hat, y),
        targets={"dy_hat": Gradient(lambda: _mse_loss(y_hat, y)[0], y_hat)},
        reference={"dy_hat": dy_hat},
        label=label(dims),
        data={"diff": y_hat - y, "N": N, "K": K, "loss": loss},
    )


def _dy_hat(fn):
    return lambda c: {"dy_hat": fn(c.data["diff"], c.data["N"], c.data["K"])}


MSE_GRAD = Exercise(
    id="mse_grad",
    signature="mse_grad(y_hat, y) -> dy_hat   # L = (1/2N) * sum((y_hat - y)**2), summed over outputs, "
              "mean over the batch N = y_hat.shape[0]; y_hat, y, dy_hat: (N, K)",
    lesson="04_losses",
    outputs=("dy_hat",),
    parts=(Part("dy_hat", 1, ("dy_hat",)),),
    make_case=_mse_case,
    visible_dims=({"N": 5, "K": 3},),  # N, N - 1 and K all differ: each division is told apart
    hidden_dims=lambda rng: awkward_dims(rng, ["N", "K"]),
    shape_names={"dy_hat": "(N, K), the shape of y_hat"},
    mistakes=told_apart(
        Mistake("the 1/N is missing: L is a mean over the N examples of the batch, so dy_hat = (y_hat - y) / N",
                _dy_hat(lambda d, N, K: d)),
        Mistake("dy_hat is divided by N * K (a mean over every entry): L sums over the K outputs and averages "
                "over the N examples only, dy_hat = (y_hat - y) / N", _dy_hat(lambda d, N, K: d / (N * K))),
        Mistake("dy_hat is twice the gradient: the 1/2 in L = (1/2N) * sum((y_hat - y)**2) cancels the 2 "
                "from the square, dy_hat = (y_hat - y) / N", _dy_hat(lambda d, N, K: 2 * d / N)),
        Mistake("the sign is flipped: dy_hat = (y_hat - y) / N, prediction minus target",
                _dy_hat(lambda d, N, K: -d / N)),
        Mistake("dy_hat is divided by K, the number of outputs (y_hat.shape[1]): divide by N = y_hat.shape[0], "
                "the batch size", _dy_hat(lambda d, N, K: d / K)),
        Mistake("dy_hat is 2 * (y_hat - y) / (N * K), the gradient of np.mean((y_hat - y)**2); this loss is "
                "(1/2N) * sum((y_hat - y)**2), whose gradient is (y_hat - y) / N",
                _dy_hat(lambda d, N, K: 2 * d / (N * K))),
        Mistake("dy_hat is (y_hat - y)**2 / N, the loss's terms: differentiate them, d/dy_hat of "
                "(y_hat - y)**2 / 2N is (y_hat - y) / N", _dy_hat(lambda d, N, K: d * d / N)),
        Mistake("dy_hat is the loss, one number: return its gradient, an array shaped like y_hat",
                lambda c: {"dy_hat": np.array(c.data["loss"])}),
        Mistake("dy_hat is divided by N - 1 (the sample-variance correction): the loss is a plain mean over the "
                "N examples, so divide by N", _dy_hat(lambda d, N, K: d / (N - 1))),
    ),
)


# ---------------------------------------------------------------------------------------------
# softmax_ce_grad(logits, y) -> dlogits for L = -(1/N) * sum(log softmax(logits)[n, y[n]])

_LARGE = ("with large logits, rows around +800 and rows around -800: exp(logits) overflows to inf there unless "
          "each row's own max is subtracted first (inf / inf is NaN; and one max for the whole batch leaves the rows "
          "far below it at exp(-1500) = 0, and 0 / 0 is NaN)")


def _ce_case(rng, dims):
    N, C = dims["N"], dims["C"]
    if dims.get("large"):
        # shifting a row does not change its softmax: the gradient is an ordinary one, only exp overflows;
        # rows shifted both ways, so one max for the whole batch leaves the low rows at exp(-1500) = 0
        signs = rng.permutation(np.resize([1.0, -1.0], N))[:, None]
        logits = rng.normal(scale=3.0, size=(N, C)) + rng.uniform(750, 1000, size=(N, 1)) * signs
    else:
        logits = rng.normal(scale=1.5, size=(N, C))
    y = rng.integers(0, C, size=N)
    loss, dlogits = _softmax_cross_entropy(logits, y)
    Y = np.zeros((N, C))
    Y[np.arange(N), y] = 1.0
    return Case(
        args=(logits, y),
        targets={"dlogits": Gradient(lambda: _softmax_cross_entropy(logits, y)[0], logits)},
        reference={"dlogits": dlogits},
        label=f"N={N}, C={C}" + (", " + _LARGE if dims.get("large") else ""),
        data={"logits": logits, "y": y, "Y": Y, "p": _softmax(logits), "N": N, "C": C},
    )


def _softmax_with_one_max(logits):
    """The softmax with the largest logit of the whole batch subtracted: NaN rows where a row lies far below it."""
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(logits - logits.max())
        return e / e.sum(axis=1, keepdims=True)


def _ce_hidden_dims(rng):
    return awkward_dims(rng, ["N", "C"]) + [
        {"N": int(rng.integers(2, 6)), "C": int(rng.integers(2, 6)), "large": True}]


def _dlogits(fn):
    return lambda c: {"dlogits": fn(c.data["p"], c.data["Y"], c.data["N"], c.data)}


def _softmax_over_batch(logits):
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


SOFTMAX_CE_GRAD = Exercise(
    id="softmax_ce_grad",
    signature="softmax_ce_grad(logits, y) -> dlogits   # p = softmax(logits) per row; L = -(1/N) * "
              "sum(log p[n, y[n]]); logits, dlogits: (N, C); y: (N,) integer labels",
    lesson="04_losses",
    outputs=("dlogits",),
    parts=(Part("dlogits", 2, ("dlogits",)),),
    make_case=_ce_case,
    visible_dims=({"N": 4, "C": 3}, {"N": 4, "C": 3, "large": True}),  # large last: a first failure names the mistake
    hidden_dims=_ce_hidden_dims,
    shape_names={"dlogits": "(N, C), the shape of logits"},
    mistakes=told_apart(
        Mistake("dlogits is p / N: subtract the one-hot labels, dlogits = (p - Y) / N with Y[n, y[n]] = 1",
                _dlogits(lambda p, Y, N, d: p / N)),
        Mistake("the 1/N is missing: L is a mean over the N examples, so dlogits = (p - Y) / N",
                _dlogits(lambda p, Y, N, d: p - Y)),
        Mistake("the labels y are subtracted as numbers (p - y[:, None]): turn them into one-hot rows first, "
                "Y = np.eye(C)[y], then dlogits = (p - Y) / N", _dlogits(lambda p, Y, N, d: (p - d["y"][:, None]) / N)),
        Mistake("the softmax is taken over the batch (axis 0): each example's C logits are normalised "
                "together, along axis 1 (each row of p sums to 1)",
                _dlogits(lambda p, Y, N, d: (_softmax_over_batch(d["logits"]) - Y) / N)),
        Mistake("the sign is flipped: dlogits = (p - Y) / N, probabilities minus labels",
                _dlogits(lambda p, Y, N, d: (Y - p) / N)),
        Mistake("dlogits is divided by N * C (a mean over every entry): L sums over the C classes and "
                "averages over the N examples, dlogits = (p - Y) / N", _dlogits(lambda p, Y, N, d: (p - Y) / (N * d["C"]))),
        Mistake("only the label's logit gets a gradient: every logit moves every probability, so "
                "dlogits = (p - Y) / N is nonzero in every column", _dlogits(lambda p, Y, N, d: Y * (p - 1) / N)),
        Mistake("one max for the whole batch (logits.max()) is subtracted: each row needs its own, "
                "logits.max(axis=1, keepdims=True); a row far below the batch's largest logit becomes exp(-1500) = 0 "
                "everywhere, and 0 / 0 is NaN", _dlogits(lambda p, Y, N, d: (_softmax_with_one_max(d["logits"]) - Y) / N)),
    ),
)


# ---------------------------------------------------------------------------------------------
# mlp_backward(x, weights, dout) -> (dx, grads): tanh on every hidden layer, identity on the output layer.
# The engine grades one array per output, so grads, a list of arrays of different shapes, is graded as
# G (L, R, M): grads[l] padded with zeros and stacked, G[l, i, j] = grads[l][i, j]. stack_grads wraps the
# learner's function so that it returns G.


def stack_grads(implementation):
    """The function the grader calls for mlp_backward: the learner's, with grads stacked into one array."""
    if getattr(implementation, "_stacks_grads", False):
        return implementation

    @functools.wraps(implementation)
    def stacked(x, weights, dout):
        shapes = [tuple(W.shape) for W in weights]  # before the learner's code can change weights
        returned = implementation(x, weights, dout)
        if not isinstance(returned, (tuple, list)) or len(returned) != 2 or returned[1] is None:
            return returned  # the engine says what is wrong
        return returned[0], learner_grads(returned[1], shapes)

    stacked._stacks_grads = True
    return stacked


def _mlp_case(rng, dims):
    N, sizes = dims["N"], dims["sizes"]
    weights = random_mlp_weights(rng, sizes)
    x, dout = rng.normal(size=(N, sizes[0])), rng.normal(size=(N, sizes[-1]))
    shapes, activations = [W.shape for W in weights], mlp_activations(len(weights))
    G = stack(weights)  # a copy: the central differences perturb G, never the learner's weights
    targets = vjp_targets(lambda x, G: _mlp_forward(x, unstack(G, shapes), activations)[0], {"x": x, "G": G}, dout)
    _, caches = _mlp_forward(x, weights, activations)
    dx, grads = _mlp_backward(dout, caches)
    return Case(
        args=(x, weights, dout),
        targets={"dx": targets["x"], "grads": targets["G"]},
        reference={"dx": dx, "grads": stack(grads)},
        label=f"N={N}, layer sizes {' -> '.join(str(s) for s in sizes)}",
        data={"x": x, "weights": weights, "dout": dout},
    )


def _mlp_hidden_dims(rng):
    """Depths 1 to 4; a batch of 1, a single input, a hidden layer of 1 unit, a single output unit."""
    def s():
        return int(rng.integers(2, 6))

    return [
        {"N": s(), "sizes": [s(), s(), s(), s()]},
        {"N": s(), "sizes": [s(), 1]},
        {"N": 1, "sizes": [s(), s(), s()]},
        {"N": s(), "sizes": [1, s(), 1, s(), s()]},
    ]


def _mlp_with(c, derivative="a", bias="sum", stale_weights=False, output_tanh=False, reverse=False, sign=1.0):
    """The backward pass with one mistake: derivative of the hidden tanh ("a": 1 - a**2, right; "z": 1 - z**2;
    "tanh(a)": 1 - tanh(a)**2; "none"), bias row ("sum", right; "mean"; "zero"), weights[l + 1] used to
    go back through layer l, tanh' on the identity output layer, grads reversed."""
    x, weights, dout = c.data["x"], c.data["weights"], c.data["dout"]
    L = len(weights)
    inputs, pre = [], []
    a = x
    for l, W in enumerate(weights):
        inputs.append(a)
        pre.append(_affine(a, W))
        a = np.tanh(pre[-1]) if l < L - 1 else pre[-1]
    grads = [None] * L
    da = dout
    for l in reversed(range(L)):
        z = pre[l]
        out = np.tanh(z) if l < L - 1 else z
        factor = {"a": 1 - out**2, "z": 1 - z**2, "tanh(a)": 1 - np.tanh(out) ** 2, "none": 1.0}[derivative]
        dz = da * factor if l < L - 1 else (da * (1 - out**2) if output_tanh else da)
        row = {"sum": dz.sum(axis=0), "mean": dz.mean(axis=0), "zero": np.zeros(dz.shape[1])}[bias]
        grads[l] = np.vstack([inputs[l].T @ dz, row])
        W = weights[l + 1] if stale_weights and l < L - 1 else weights[l]
        da = dz @ W[:-1].T
    if reverse:
        grads = grads[::-1]
    return {"dx": sign * da, "grads": sign * stack(grads)}


def _grads_only(**mistake):
    return lambda c: {"grads": _mlp_with(c, **mistake)["grads"]}


MLP_BACKWARD = Exercise(
    id="mlp_backward",
    signature="mlp_backward(x, weights, dout) -> (dx, grads)   # tanh hidden layers, identity output; "
              "weights[l]: (D_l + 1, D_(l+1)), last row the bias; grads: list, grads[l] shaped like weights[l]",
    lesson="05_static_backprop",
    outputs=("dx", "grads"),
    parts=(Part("dx", 1, ("dx",)), Part("grads", 3, ("grads",))),
    make_case=_mlp_case,
    visible_dims=({"N": 4, "sizes": [4, 3, 3, 3]},),
    hidden_dims=_mlp_hidden_dims,
    shape_names={"dx": "(N, D), the shape of x",
                 "grads": "(L, R, M): grads[l] padded with zeros and stacked, entry (l, i, j) is grads[l][i, j]"},
    mistakes=told_apart(
        Mistake("the tanh derivative is missing: going back through a hidden layer, dz = da * (1 - a**2), "
                "with a = tanh(z) the layer's output", lambda c: _mlp_with(c, derivative="none")),
        Mistake("going back through layer l used the weights of the layer above (weights[l + 1]): the gradient "
                "for layer l's input is dz @ weights[l][:-1].T, with layer l's own weights",
                lambda c: _mlp_with(c, stale_weights=True)),
        Mistake("the bias rows of grads are averaged over the batch; sum them (dz.sum(axis=0)): any 1/N belongs "
                "to the loss", _grads_only(bias="mean")),
        Mistake("the bias rows of grads are zero: the last row of each dW is the gradient of the bias, the "
                "weight from the constant-1 unit, dz summed over the batch", _grads_only(bias="zero")),
        Mistake("grads is in reverse order (output layer first): grads[l] must be the gradient of weights[l], "
                "first layer first; reverse the list you built going backward", _grads_only(reverse=True)),
        Mistake("tanh' is taken as 1 - z**2 with z the pre-activation: tanh'(z) = 1 - tanh(z)**2 = 1 - a**2, "
                "with a = tanh(z) the layer's output", lambda c: _mlp_with(c, derivative="z")),
        Mistake("tanh is applied twice: with a = tanh(z) already the layer's output, tanh'(z) = 1 - a**2, "
                "not 1 - tanh(a)**2", lambda c: _mlp_with(c, derivative="tanh(a)")),
        Mistake("the output layer is treated as tanh: it is the identity, so there dz = dout (no 1 - a**2)",
                lambda c: _mlp_with(c, output_tanh=True)),
        Mistake("the signs are flipped", lambda c: _mlp_with(c, sign=-1.0)),
    ),
    adapt=stack_grads,
)

EXERCISES = [SIGMOID_BACKWARD, TANH_BACKWARD, RELU_BACKWARD, DENSE_BACKWARD, BIAS_AS_WEIGHT, MSE_GRAD,
             SOFTMAX_CE_GRAD, MLP_BACKWARD]
