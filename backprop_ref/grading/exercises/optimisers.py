"""Exercises on optimisers: update rules, checked against the reference rule.

Each rule's new w is judged by its step, new w - w, against the reference step (and a moment by its change),
so a step 1% too long is 1% off however large w is; hyperparameters are drawn per case, away from the usual
defaults, so an ignored, swapped or misplaced one shows."""
import numpy as np

from ...optim import adam_step as _adam_step
from ...optim import momentum_step as _momentum_step
from ...optim import nesterov_step as _nesterov_step
from ...optim import sgd_step as _sgd_step
from ..core import Case, Exercise, Mistake, Part, Value
from ._common import VISIBLE_SHAPES, any_shapes, away_from_zero


# ---------------------------------------------------------------------------------------------
# sgd_step, momentum_step, nesterov_step: w, dw, v of any shape (the same); lr and mu drawn per case,
# away from the usual defaults, so an ignored or swapped hyperparameter shows.


def _rule_label(dims, lr, mu=None):
    shape = dims["shape"]
    text = f"w of shape {shape}, lr={lr:.4g}" + ("" if mu is None else f", mu={mu:.4g}")
    return text + (", v = 0 (the first step)" if dims.get("v") == "zero" else "")


def _rule_dims(rng, with_v):
    """Hidden shapes (see any_shapes); with v, then a first step (v = 0). Many entries come first: the first case
    that fails names the mistake, and with a single number two different slips can give the same value."""
    dims = [{"shape": s, "v": "random"} if with_v else {"shape": s} for s in any_shapes(rng)]
    if with_v:
        dims.append({"shape": (int(rng.integers(2, 7)),), "v": "zero"})
    return dims


def _visible_rule_dims(with_v):
    dims = [{"shape": s, "v": "random"} if with_v else {"shape": s} for s in VISIBLE_SHAPES]
    return tuple(dims + [{"shape": (3, 2), "v": "zero"}] if with_v else dims)


def _sgd_case(rng, dims):
    shape = dims["shape"]
    w, lr = rng.normal(size=shape), float(rng.uniform(0.05, 0.5))
    dw = away_from_zero(rng.normal(size=shape), 0.1)  # every entry moves: a step too small to see looks like none
    new_w = _sgd_step(w, dw, lr)
    return Case(
        args=(w, dw, lr),
        targets={"w": Value(new_w, base=w)},
        reference={"w": new_w},
        label=_rule_label(dims, lr),
        data={"w": w, "dw": dw, "lr": lr},
    )


SGD_STEP = Exercise(
    id="sgd_step",
    signature="sgd_step(w, dw, lr) -> w   # w = w - lr * dw; w, dw: any shape (the same)",
    lesson="06_optimisers",
    outputs=("w",),
    parts=(Part("w", 1, ("w",)),),
    make_case=_sgd_case,
    visible_dims=_visible_rule_dims(with_v=False),
    hidden_dims=lambda rng: _rule_dims(rng, with_v=False),
    shape_names={"w": "the shape of w"},
    mistakes=(
        Mistake("the step goes uphill: w + lr * dw climbs the error; the gradient points uphill, so subtract it",
                lambda c: {"w": c.data["w"] + c.data["lr"] * c.data["dw"]}),
        Mistake("lr is missing: the step is lr * dw, not dw", lambda c: {"w": c.data["w"] - c.data["dw"]}),
        Mistake("you returned lr * dw, not the new weights: return w - lr * dw",
                lambda c: {"w": c.data["lr"] * c.data["dw"]}),
        Mistake("you returned the step -lr * dw, not the new weights: add it to w, w - lr * dw",
                lambda c: {"w": -c.data["lr"] * c.data["dw"]}),
        Mistake("dw is divided by lr; multiply: w - lr * dw", lambda c: {"w": c.data["w"] - c.data["dw"] / c.data["lr"]}),
        Mistake("w came back unchanged: compute the new weights and return them", lambda c: {"w": c.data["w"]}),
        Mistake("the step uses w in place of its gradient dw: w - lr * dw", lambda c: {"w": c.data["w"] * (1 - c.data["lr"])}),
    ),
)


def _velocity_case(reference):
    def make_case(rng, dims):
        shape = dims["shape"]
        w, dw = rng.normal(size=shape), rng.normal(size=shape)
        v = np.zeros(shape) if dims.get("v") == "zero" else rng.normal(size=shape)
        lr, mu = float(rng.uniform(0.05, 0.5)), float(rng.uniform(0.5, 0.95))
        near_zero = np.abs(mu * v + dw) < 0.1  # keep the new velocity away from 0, where slips look alike
        dw = dw + 0.2 * near_zero * np.where(mu * v + dw >= 0, 1.0, -1.0)
        new_w, new_v = reference(w, dw, v, lr, mu)
        return Case(
            args=(w, dw, v, lr, mu),
            targets={"w": Value(new_w, base=w), "v": Value(new_v, base=v)},
            reference={"w": new_w, "v": new_v},
            label=_rule_label(dims, lr, mu),
            data={"w": w, "dw": dw, "v": v, "lr": lr, "mu": mu, "new_v": new_v},
        )

    return make_case


def _rule(c, v, step):
    """{'w': w - lr * step, 'v': v}, for a Mistake: v the velocity it keeps, step what it moves along."""
    return {"w": c.data["w"] - c.data["lr"] * step, "v": v}


def _dampened(c):
    d = c.data
    return d["mu"] * d["v"] + (1 - d["mu"]) * d["dw"]


def _cs231n_v(c):
    d = c.data
    return d["mu"] * d["v"] - d["lr"] * d["dw"]


def _shared_mistakes(rule):
    """Mistakes momentum and Nesterov have in common; ``rule(c, v)`` is the rule's step with velocity v."""
    return (
        Mistake("the velocity is dampened by (1 - mu): this course follows PyTorch (dampening 0), v = mu * v + dw",
                lambda c: _rule(c, _dampened(c), rule(c, _dampened(c)))),
        Mistake("mu multiplies dw instead of the old velocity: v = mu * v + dw",
                lambda c: _rule(c, c.data["v"] + c.data["mu"] * c.data["dw"], rule(c, c.data["v"] + c.data["mu"] * c.data["dw"]))),
        Mistake("the step goes uphill: subtract lr times the step (the gradient points uphill)",
                lambda c: {"w": 2 * c.data["w"] - c.reference["w"], "v": c.data["new_v"]}),
        Mistake("the outputs are swapped: return (w, v), the weights first",
                lambda c: {"w": c.reference["v"], "v": c.reference["w"]}),
        Mistake("v came back unchanged: return the new velocity mu * v + dw, so the next step can use it",
                lambda c: {"v": c.data["v"]}),
        Mistake("mu is ignored: the old velocity is scaled by mu before dw is added, v = mu * v + dw",
                lambda c: {"v": c.data["v"] + c.data["dw"]}),  # v only: its w is also what other slips give
    )


MOMENTUM_STEP = Exercise(
    id="momentum_step",
    signature="momentum_step(w, dw, v, lr, mu) -> (w, v)   # v = mu * v + dw; w = w - lr * v; any shape (the same)",
    lesson="06_optimisers",
    outputs=("w", "v"),
    parts=(Part("v", 1, ("v",)), Part("w", 1, ("w",))),
    make_case=_velocity_case(_momentum_step),
    visible_dims=_visible_rule_dims(with_v=True),
    hidden_dims=lambda rng: _rule_dims(rng, with_v=True),
    shape_names={"w": "the shape of w", "v": "the shape of w"},
    mistakes=(
        Mistake("v is not updated before the step: w moved with the old velocity; first v = mu * v + dw, "
                "then w = w - lr * v with the new v", lambda c: {"w": c.data["w"] - c.data["lr"] * c.data["v"]}),
        Mistake("lr is folded into the velocity (v = mu * v - lr * dw; w = w + v, the CS231n form); this course "
                "follows PyTorch: v = mu * v + dw, then w = w - lr * v",
                lambda c: {"v": _cs231n_v(c), "w": c.data["w"] + _cs231n_v(c)}),
        Mistake("this is Nesterov's step (w - lr * (dw + mu * v)); plain momentum steps along v: w = w - lr * v",
                lambda c: _rule(c, c.data["new_v"], c.data["dw"] + c.data["mu"] * c.data["new_v"])),
        *_shared_mistakes(lambda c, v: v),
    ),
)

NESTEROV_STEP = Exercise(
    id="nesterov_step",
    signature="nesterov_step(w, dw, v, lr, mu) -> (w, v)   # v = mu * v + dw; w = w - lr * (dw + mu * v); any shape",
    lesson="06_optimisers",
    outputs=("w", "v"),
    parts=(Part("v", 1, ("v",)), Part("w", 2, ("w",))),
    make_case=_velocity_case(_nesterov_step),
    visible_dims=_visible_rule_dims(with_v=True),
    hidden_dims=lambda rng: _rule_dims(rng, with_v=True),
    shape_names={"w": "the shape of w", "v": "the shape of w"},
    mistakes=(
        Mistake("plain momentum, no look-ahead: w moved by lr * v (the same as w - lr * (dw + mu * v) with the old v); "
                "Nesterov steps with the gradient plus the look-ahead along the new velocity: first v = mu * v + dw, "
                "then w = w - lr * (dw + mu * v)", lambda c: _rule(c, c.data["new_v"], c.data["new_v"])),
        Mistake("the step has the look-ahead mu * v but not the gradient: w = w - lr * (dw + mu * v)",
                lambda c: _rule(c, c.data["new_v"], c.data["mu"] * c.data["new_v"])),
        Mistake("lr is folded into the velocity (v = mu * v - lr * dw; w = w - mu * v_old + (1 + mu) * v, the "
                "CS231n form); this course follows PyTorch: v = mu * v + dw, then w = w - lr * (dw + mu * v)",
                lambda c: {"v": _cs231n_v(c), "w": c.data["w"] - c.data["mu"] * c.data["v"] + (1 + c.data["mu"]) * _cs231n_v(c)}),
        *_shared_mistakes(lambda c, v: c.data["dw"] + c.data["mu"] * v),
    ),
)

# Adam's hyperparameters are drawn per case, beta1 < beta2 (so swapping them shows), and eps large enough that
# where it goes shows: with sqrt(v_hat) around 0.1 to 0.3, eps inside the square root moves the step by 0.1% or
# more (the tolerance is 0.01%); some entries have a tiny gradient and tiny moments, where eps dominates.


def _adam_case(rng, dims):
    shape, t = dims["shape"], dims["t"]
    w, dw = rng.normal(size=shape), rng.normal(size=shape)
    m, v = rng.normal(scale=0.1, size=shape), rng.uniform(0.01, 0.1, size=shape)
    tiny = rng.uniform(size=shape) < 0.25
    dw, v = np.where(tiny, 1e-3 * dw, dw), np.where(tiny, 1e-6 * v, v)
    if t == 1:
        m, v = np.zeros(shape), np.zeros(shape)
    lr, beta1 = float(rng.uniform(0.005, 0.1)), float(rng.uniform(0.8, 0.95))
    beta2, eps = float(rng.uniform(0.97, 0.999)), float(10 ** rng.uniform(-3, -1.5))
    hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    new_w, new_m, new_v = _adam_step(w, dw, m, v, t, **hyper)
    return Case(
        args=(w, dw, m, v, t, lr, beta1, beta2, eps),
        targets={"w": Value(new_w, base=w), "m": Value(new_m, base=m), "v": Value(new_v, base=v)},
        reference={"w": new_w, "m": new_m, "v": new_v},
        label=f"w of shape {shape}, t={t}, lr={lr:.4g}, beta1={beta1:.4g}, beta2={beta2:.4g}, eps={eps:.3g}",
        data={"w": w, "dw": dw, "m": m, "v": v, "t": t, **hyper},
    )


def _adam_with(c, correct=True, eps_inside=False):
    d = c.data
    m = d["beta1"] * d["m"] + (1 - d["beta1"]) * d["dw"]
    v = d["beta2"] * d["v"] + (1 - d["beta2"]) * d["dw"] ** 2
    if correct:
        m, v = m / (1 - d["beta1"] ** d["t"]), v / (1 - d["beta2"] ** d["t"])
    size = np.sqrt(v + d["eps"]) if eps_inside else np.sqrt(v) + d["eps"]
    return {"w": d["w"] - d["lr"] * m / size}


def _adam_dims(rng):
    """Any shape, t from 2 to 1000; zero moments at t = 1 in the middle: at t = 1 several slips agree."""
    a, b, c, d, e = any_shapes(rng)
    return [{"shape": a, "t": int(rng.integers(2, 20))}, {"shape": b, "t": int(rng.integers(2, 1000))},
            {"shape": c, "t": 1}, {"shape": d, "t": int(rng.integers(2, 50))}, {"shape": e, "t": int(rng.integers(2, 20))}]


ADAM_STEP = Exercise(
    id="adam_step",
    signature="adam_step(w, dw, m, v, t, lr, beta1, beta2, eps) -> (w, m, v)   # t counts from 1; w, dw, m, v: any "
              "shape (the same)",
    lesson="06_optimisers",
    outputs=("w", "m", "v"),
    parts=(Part("moments", 1, ("m", "v")), Part("update", 2, ("w",))),
    make_case=_adam_case,
    visible_dims=({"shape": (3, 2), "t": 1}, {"shape": (3, 2), "t": 5}, {"shape": (2, 3, 2), "t": 40},
                  {"shape": (5,), "t": 3}, {"shape": (), "t": 2}),
    hidden_dims=_adam_dims,
    shape_names={"w": "the shape of w", "m": "the shape of w", "v": "the shape of w"},
    mistakes=(
        Mistake("the update has no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t) "
                "before using them", lambda c: _adam_with(c, correct=False)),
        Mistake("eps is inside the square root: it is added to the root, lr * m_hat / (sqrt(v_hat) + eps)",
                lambda c: _adam_with(c, eps_inside=True)),
    ),
)

EXERCISES = [SGD_STEP, MOMENTUM_STEP, NESTEROV_STEP, ADAM_STEP]
