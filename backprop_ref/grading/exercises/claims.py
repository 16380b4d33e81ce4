"""Exercises of lesson 11: what backprop is, and what it is not.

- per_example_grads(x, y, W) -> G: for a one-layer softmax classifier (logits = [x, 1] W, W (D + 1, C), the
  bias its last row), G[n] is the gradient of example n's own loss, -log p[n, y_n], with respect to W:
  (N, D + 1, C). Averaged over n it is the mini-batch gradient of lesson 7; one by one it shows that each
  entry is (input activation) x (error signal).

  The verdict is float64 central differences of a forward pass (a Gradient target). G is not the gradient
  of one scalar, but it is the gradient of one: give every example its own copy of W, Ws (N, D + 1, C),
  and let F(Ws) = sum over n of loss_n(x[n], Ws[n]). Example n reads only Ws[n], so dF/dWs[n] = G[n]
  (the trick of the jacobian check in recurrent.py).

- predicted_spread(G, B) -> spread: from per-example gradients G (N, ...), the root-mean-square distance of a
  mini-batch gradient (B examples drawn with replacement) from the full-batch gradient, sqrt(tr(Sigma) / B) with
  Sigma the examples' covariance (over N, not N - 1: the batch draws from these N examples). A Value target:
  the formula in float64 (``_spread``); the widget's tests check the formula against the spread of sampled
  mini-batches.

per_example_grads' hidden checks: a general case first (N, D >= 2, C >= 3), then a batch of 1, a single input, two classes, a
batch in which every example has the same label, and confident logits (large weights: most errors near 0,
a few near 1).
"""
import numpy as np

from ...activations import softmax as _softmax
from ...bias import with_ones as _with_ones
from ..core import Case, Exercise, Gradient, Mistake, Part, Value
from ._common import label


def _losses(x1, Ws, y):
    """(N,) each example's loss, -log softmax(x1[n] @ Ws[n])[y_n], stable; x1 = [x, 1]."""
    logits = np.einsum("nd,ndc->nc", x1, Ws)
    top = logits.max(axis=1, keepdims=True)
    logsumexp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return logsumexp - logits[np.arange(len(y)), y]


def _per_example_case(rng, dims):
    N, D, C = dims["N"], dims["D"], dims["C"]
    scale = dims.get("scale", 1.0)
    x = rng.normal(size=(N, D))
    W = scale * np.vstack([rng.normal(size=(D, C)) / np.sqrt(D), 0.5 * rng.normal(size=(1, C))])
    y = np.full(N, int(rng.integers(0, C))) if dims.get("same_label") else rng.integers(0, C, size=N)
    if N >= 2 and not dims.get("same_label"):
        y[:2] = rng.choice(C, size=2, replace=False)  # two labels at least: with labels all 0, p - y would be right
    x1 = _with_ones(x)
    Ws = np.repeat(W[None], N, axis=0)  # one copy of W per example: dF/dWs[n] is example n's gradient
    data = {"x": x, "y": y, "W": W, "x1": x1, "p": _softmax(x1 @ W), "Y": np.eye(C)[y]}
    return Case(
        args=(x, y, W),
        targets={"G": Gradient(lambda: float(_losses(x1, Ws, y).sum()), Ws)},
        reference={"G": _outer(x1, data["p"] - data["Y"])},
        label=label({k: v for k, v in dims.items() if k in "NDC"})
        + (", every label the same" if dims.get("same_label") else "")
        + (", confident logits (large weights)" if scale > 1 else ""),
        data=data,
    )


def _outer(a, delta):
    """(N, A, C): a[n] (outer) delta[n] for every example."""
    return a[:, :, None] * delta[:, None, :]


def _hidden_dims(rng):
    def s(low=2, high=6):
        return int(rng.integers(low, high + 1))

    return [
        {"N": s(3), "D": s(), "C": s(3)},
        {"N": 1, "D": s(), "C": s(3)},
        {"N": s(), "D": 1, "C": s(3)},
        {"N": s(3), "D": s(), "C": 2},
        {"N": s(3), "D": s(), "C": s(3), "same_label": True},
        {"N": s(3), "D": s(), "C": s(3), "scale": 4.0},
    ]


def _error(c):
    return c.data["p"] - c.data["Y"]


def _not_single(G):
    """A batch-level mistake gives the right numbers on a batch of one: no fingerprint there."""
    if G.shape[0] < 2:
        raise ValueError("with N = 1 the batch's gradient is the example's")
    return G


def _batch_softmax(c):
    """The probabilities normalised over the batch (axis 0) instead of over the classes."""
    z = c.data["x1"] @ c.data["W"]
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _G(G):
    return {"G": G}


PER_EXAMPLE_GRADS = Exercise(
    id="per_example_grads",
    signature="per_example_grads(x, y, W) -> G   # logits = [x, 1] @ W; loss_n = -log softmax(logits[n])[y[n]]; "
              "x: (N, D), y: (N,) labels 0..C-1, W: (D + 1, C), last row the bias; G: (N, D + 1, C), "
              "G[n] = d loss_n / dW",
    lesson="11_what_backprop_is_not",
    outputs=("G",),
    parts=(Part("G", 3, ("G",)),),
    make_case=_per_example_case,
    visible_dims=({"N": 4, "D": 3, "C": 3},),
    hidden_dims=_hidden_dims,
    shape_names={"G": "(N, D + 1, C)"},
    mistakes=(
        Mistake("G[n] is divided by N: each example's loss is its own, -log p[n, y_n], with no 1/N; the 1/N "
                "belongs to the batch's mean loss (lesson 7), whose gradient is the mean of your G[n]",
                lambda c: _G(_not_single(_outer(c.data["x1"], _error(c))) / len(c.data["y"]))),
        Mistake("every G[n] is the batch's mean gradient: keep one gradient per example, from its own input "
                "x[n] and its own error p[n] - Y[n]",
                lambda c: _G(np.broadcast_to(_not_single(_outer(c.data["x1"], _error(c))).mean(axis=0),
                                             (len(c.data["y"]),) + c.data["W"].shape))),
        Mistake("every G[n] is the batch's summed gradient: keep one gradient per example, from its own input "
                "x[n] and its own error p[n] - Y[n]",
                lambda c: _G(np.broadcast_to(_not_single(_outer(c.data["x1"], _error(c))).sum(axis=0),
                                             (len(c.data["y"]),) + c.data["W"].shape))),
        Mistake("G is the batch's gradient, one (D + 1, C) array: the exercise asks for one per example, "
                "G (N, D + 1, C), even for N = 1", lambda c: _G(_outer(c.data["x1"], _error(c)).mean(axis=0))),
        Mistake("G has no bias row: the bias is the weight from the constant-1 input, so G[n] has D + 1 rows, "
                "the last one the error signal itself", lambda c: _G(_outer(c.data["x"], _error(c)))),
        Mistake("the bias row is first: W's bias is its last row, the weight from the 1 appended after x[n]",
                lambda c: _G(_outer(np.hstack([np.ones((len(c.data["y"]), 1)), c.data["x"]]), _error(c)))),
        Mistake("your G looks transposed: G[n] has W's shape (D + 1, C), a row per input, a column per class",
                lambda c: _G(_outer(c.data["x1"], _error(c)).transpose(0, 2, 1))),
        Mistake("the labels are used as numbers: the error signal is p[n] minus the one-hot row of y[n] "
                "(1 in column y[n], 0 elsewhere), not p[n] - y[n]",
                lambda c: _G(_outer(c.data["x1"], c.data["p"] - c.data["y"][:, None]))),
        Mistake("the softmax is taken over the batch (axis 0): each example's probabilities are normalised over "
                "its classes (axis 1)", lambda c: _G(_outer(c.data["x1"], _not_single(_batch_softmax(c)) - c.data["Y"]))),
        Mistake("the error signal uses the logits, not the probabilities: it is softmax(logits[n]) - Y[n]",
                lambda c: _G(_outer(c.data["x1"], c.data["x1"] @ c.data["W"] - c.data["Y"]))),
        Mistake("the signs are flipped: the gradient points uphill, (p[n] - Y[n]), not Y[n] - p[n]",
                lambda c: _G(-_outer(c.data["x1"], _error(c)))),
    ),
)

# ---------------------------------------------------------------------------------------------
# predicted_spread(G, B) -> spread


def _spread(G, B, centre=True, ddof=0, per_entry=False, root="sqrt", how="rms"):
    """The predicted spread, or a learner's mistake: centre (around the full gradient), ddof (N - 1), per_entry
    (the squared distances averaged over the entries, not summed), root ("sqrt" of B, right; "B": divided by B;
    "none": B left out; "times": multiplied by sqrt(B); "variance": no square root at all), how ("rms" right;
    "mean": the mean distance, not the root of the mean square)."""
    N = G.shape[0]
    flat = G.reshape(N, -1)
    d = flat - flat.mean(axis=0) if centre else flat
    squares = (d**2).mean(axis=1) if per_entry else (d**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        single = np.sqrt(squares.sum() / (N - ddof)) if how == "rms" else np.sqrt(squares).mean()
    return {"sqrt": single / np.sqrt(B), "B": single / B, "none": single, "times": single * np.sqrt(B),
            "variance": single**2 / B}[root]


def _spread_case(rng, dims):
    N, B, shape = dims["N"], dims["B"], tuple(dims["shape"])
    G = rng.normal(size=(N,) + shape) * rng.uniform(0.5, 2, size=shape) + rng.normal(size=shape)
    if dims.get("equal"):
        G = np.broadcast_to(G[:1], G.shape).copy()  # every example the same gradient: no spread at all
    spread = np.float64(_spread(G, B))
    return Case(args=(G, B), targets={"spread": Value(spread)}, reference={"spread": spread},
                label=f"G {(N,) + shape}, B={B}" + (", every example's gradient the same" if dims.get("equal") else ""),
                data={"G": G, "B": B})


def _spread_hidden_dims(rng):
    def s(low=2, high=6):
        return int(rng.integers(low, high + 1))

    def general(shape):
        """B != the entries of G[n]: there, averaging over the entries looks like dividing by B, not sqrt(B)."""
        return {"N": s(5, 12), "B": int(rng.choice([b for b in range(2, 9) if b != np.prod(shape)])), "shape": shape}

    return [
        general((s(), s())),  # the shape of a per_example_grads G
        general((s(),)),
        {"N": s(), "B": 1, "shape": (s(),)},
        {"N": s(), "B": s(20, 40), "shape": (1,)},  # B > N: drawn with replacement, any B goes
        {"N": 1, "B": s(), "shape": (s(),)},
        {"N": s(), "B": s(), "shape": (s(),), "equal": True},
    ]


def _spread_mistake(message, **twist):
    return Mistake(message, lambda c: {"spread": np.float64(_spread(c.data["G"], c.data["B"], **twist))})


PREDICTED_SPREAD = Exercise(
    id="predicted_spread",
    signature="predicted_spread(G, B) -> spread   # G: (N, ...) per-example gradients; spread: a number, the "
              "root-mean-square distance of a mini-batch gradient (B examples drawn with replacement) from G.mean(axis=0)",
    lesson="11_what_backprop_is_not",
    outputs=("spread",),
    parts=(Part("spread", 2, ("spread",)),),
    make_case=_spread_case,
    visible_dims=({"N": 8, "B": 4, "shape": (3,)},),  # B != 3 entries, as in the hidden general cases
    hidden_dims=_spread_hidden_dims,
    shape_names={"spread": "() (one number)"},
    mistakes=(
        _spread_mistake("the spread is divided by B: the variance of a mean of B draws is divided by B, so the "
                        "spread, its square root, by sqrt(B)", root="B"),
        _spread_mistake("the spread has no 1/sqrt(B): that is the spread of a single example's gradient; a batch "
                        "of B averages B of them", root="none"),
        _spread_mistake("the spread is multiplied by sqrt(B): averaging B examples shrinks the spread, so divide "
                        "by sqrt(B)", root="times"),
        _spread_mistake("the square root is missing: that is the mean squared distance (a variance); the spread is "
                        "its square root", root="variance"),
        _spread_mistake("the distances are not measured from the full-batch gradient: subtract G.mean(axis=0) "
                        "from every G[n] first", centre=False),
        _spread_mistake("the mean squared distance is divided by N - 1: a batch draws from these N examples, so "
                        "average over exactly them, dividing by N", ddof=1),
        _spread_mistake("the squared distances are averaged over the entries of G[n]: |G[n] - mean|^2 sums the "
                        "squares of all its entries", per_entry=True),
        _spread_mistake("the spread is the mean of the distances |G[n] - mean|: it is the root of the mean "
                        "squared distance", how="mean"),
    ),
)

EXERCISES = [PER_EXAMPLE_GRADS, PREDICTED_SPREAD]
