"""Exercises on layers: activation backward passes, the dense layer, losses, the whole MLP."""
import numpy as np

from ...layers import dense_backward as _dense_backward
from ...layers import dense_forward as _dense_forward
from ..core import Case, Exercise, Mistake, Part
from ._common import awkward_dims, label, vjp_targets


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
    lesson="03 dense layer and the bias as a weight",
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

EXERCISES = [DENSE_BACKWARD]
