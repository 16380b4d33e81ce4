"""Exercises on optimisers: update rules, checked against the reference rule."""
import numpy as np

from ...optim import adam_step as _adam_step
from ..core import Case, Exercise, Mistake, Part, Value
from ._common import label

_ADAM = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)


def _adam_case(rng, dims):
    shape = (dims["R"], dims["C"])
    t = dims["t"]
    w, dw = rng.normal(size=shape), rng.normal(size=shape)
    m, v = rng.normal(scale=0.1, size=shape), rng.uniform(0.01, 0.1, size=shape)
    if t == 1:
        m, v = np.zeros(shape), np.zeros(shape)
    new_w, new_m, new_v = _adam_step(w, dw, m, v, t, **_ADAM)
    return Case(
        args=(w, dw, m, v, t, _ADAM["lr"], _ADAM["beta1"], _ADAM["beta2"], _ADAM["eps"]),
        targets={"w": Value(new_w), "m": Value(new_m), "v": Value(new_v)},
        reference={"w": new_w, "m": new_m, "v": new_v},
        label=label(dims),
        data={"w": w, "dw": dw, "m": m, "v": v, "t": t, **_ADAM},
    )


def _adam_without_correction(c):
    d = c.data
    m = d["beta1"] * d["m"] + (1 - d["beta1"]) * d["dw"]
    v = d["beta2"] * d["v"] + (1 - d["beta2"]) * d["dw"] ** 2
    return {"w": d["w"] - d["lr"] * m / (np.sqrt(v) + d["eps"])}


ADAM_STEP = Exercise(
    id="adam_step",
    signature="adam_step(w, dw, m, v, t, lr, beta1, beta2, eps) -> (w, m, v)   # t counts from 1",
    lesson="06 optimisers",
    outputs=("w", "m", "v"),
    parts=(Part("moments", 1, ("m", "v")), Part("update", 2, ("w",))),
    make_case=_adam_case,
    visible_dims=({"R": 3, "C": 2, "t": 1}, {"R": 3, "C": 2, "t": 5}),
    hidden_dims=lambda rng: [{"R": 1, "C": 1, "t": 1}, {"R": int(rng.integers(2, 6)), "C": 1, "t": int(rng.integers(2, 20))},
                             {"R": int(rng.integers(2, 6)), "C": int(rng.integers(2, 6)), "t": int(rng.integers(2, 1000))}],
    mistakes=(
        Mistake("the update has no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t) "
                "before using them", _adam_without_correction),
    ),
)

EXERCISES = [ADAM_STEP]
