"""Exercises on the basics: one weight, its error and gradient descent (lesson 1), a small graph and gradient
checking (lesson 2)."""
import functools
import math

import numpy as np

from ...activations import sigmoid_forward as _sigmoid_forward
from ...backend import to_host
from ..core import Case, Exercise, Gradient, Mistake, Part, Value
from ._common import awkward_dims, label, vjp_targets


# ---------------------------------------------------------------------------------------------
# one_weight_grad(w, x, t) -> dw:  E = (1/2N) * sum((w * x - t)**2),  dw = dE/dw = (1/N) * sum((w * x - t) * x)


def _one_weight_error(w, x, t):
    return 0.5 * float(np.mean((w * x - t) ** 2))


def _one_weight_case(rng, dims):
    N = dims["N"]
    x = rng.uniform(0.5, 2.0, size=N) * rng.choice([-1.0, 1.0], size=N)
    t = rng.normal() * x + 0.5 * rng.normal(size=N)
    best = float(x @ t / (x @ x))  # the least-squares weight, where dw = 0
    w = best + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)  # far from it, so dw is never near 0
    w0 = np.array(w)  # 0-d: the array the central difference perturbs

    dw = np.array(np.mean((w * x - t) * x))
    return Case(
        args=(w, x, t),
        targets={"dw": Gradient(lambda: _one_weight_error(w0, x, t), w0)},
        reference={"dw": dw},
        label=label(dims),
        data={"w": w, "x": x, "t": t},
    )


def _error_times(c, fn):
    d = c.data
    return {"dw": np.array(fn(d["w"] * d["x"] - d["t"], d["x"]))}


ONE_WEIGHT_GRAD = Exercise(
    id="one_weight_grad",
    signature="one_weight_grad(w, x, t) -> dw   # E = (1/2N) * sum((w * x - t)**2); w, dw: numbers; x, t: (N,)",
    lesson="01_one_weight",
    outputs=("dw",),
    parts=(Part("dw", 2, ("dw",)),),
    make_case=_one_weight_case,
    visible_dims=({"N": 5},),
    # N = 1 last: the first case that fails names the mistake, and with one example a missing 1/N looks right
    hidden_dims=lambda rng: [{"N": int(rng.integers(10, 101))}, {"N": int(rng.integers(2, 10))}, {"N": 1}],
    shape_names={"dw": "one number, like w (a float or a 0-d array)"},
    mistakes=(
        Mistake("the sign is flipped: the error is the prediction minus the target, w * x - t, and "
                "dE/dw = (1/N) * sum((w * x - t) * x); with (t - w * x) it needs a minus sign in front",
                lambda c: {"dw": -c.reference["dw"]}),
        Mistake("the factor x is missing (chain rule): E depends on w through w * x, whose derivative in w is x, "
                "so dw = (1/N) * sum((w * x - t) * x)", lambda c: _error_times(c, lambda e, x: np.mean(e))),
        Mistake("the 1/N is missing: E is a mean over the N examples, so dw is one too "
                "(sum(...) / N, or np.mean)", lambda c: _error_times(c, lambda e, x: np.sum(e * x))),
        Mistake("dw is divided by N twice: np.mean already divides by N", lambda c: _error_times(c, lambda e, x: np.mean(e * x) / len(x))),
        Mistake("dw is twice the gradient: E = (1/2N) * sum(...) has a factor 1/2 that cancels the 2 "
                "from differentiating the square", lambda c: {"dw": 2 * c.reference["dw"]}),
        Mistake("you multiplied two means: the mean of (error * x) is not mean(error) * mean(x); "
                "multiply example by example, then average", lambda c: _error_times(c, lambda e, x: np.mean(e) * np.mean(x))),
        Mistake("you returned the error E itself; the exercise asks for its derivative dE/dw",
                lambda c: {"dw": np.array(_one_weight_error(c.data["w"], c.data["x"], c.data["t"]))}),
    ),
)


# ---------------------------------------------------------------------------------------------
# gradient_descent(w, x, t, lr, steps) -> ws:  w_{k+1} = w_k - lr * dE/dw(w_k),  ws = [w_0, w_1, ..., w_steps]
#
# lr is drawn so that r = lr * mean(x**2) lies in (0.1, 0.6): then w_k - w* = (1 - r)^k (w_0 - w*) shrinks
# visibly at every step (w* the least-squares weight) without landing on w* at once, so every slip
# below moves ws[1] already, and each gives its own trajectory.


def _descend(w, x, t, lr, steps, scale=1.0, sign=-1.0, frozen=False):
    """The weights visited: scale multiplies the gradient (N for a missing 1/N), sign -1 descends,
    frozen reuses the first gradient for every step."""
    ws = [float(w)]
    dw0 = float(np.mean((w * x - t) * x))
    for _ in range(steps):
        dw = dw0 if frozen else float(np.mean((ws[-1] * x - t) * x))
        ws.append(ws[-1] + sign * lr * scale * dw)
    return np.array(ws)


def _descent_case(rng, dims):
    N, steps = dims["N"], dims["steps"]
    x = rng.uniform(0.5, 2.0, size=N) * rng.choice([-1.0, 1.0], size=N)
    t = rng.normal() * x + 0.5 * rng.normal(size=N)
    best = float(x @ t / (x @ x))
    w = best + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)  # far from w*, so every step moves
    lr = float(rng.uniform(0.1, 0.6) / np.mean(x * x))
    ws = _descend(w, x, t, lr, steps)
    return Case(
        args=(w, x, t, lr, steps),
        targets={"ws": Value(ws)},
        reference={"ws": ws},
        label=f"{label(dims)}, lr={lr:.4g}",
        data={"w": w, "x": x, "t": t, "lr": lr, "steps": steps},
    )


def _descent_with(c, ahead=0, **change):
    """{'ws': ...} for a Mistake; ahead=1 drops ws[0] but takes one more step (still steps + 1 numbers)."""
    d = c.data
    return {"ws": _descend(d["w"], d["x"], d["t"], d["lr"], d["steps"] + ahead, **change)[ahead:]}


def _weights_as_array(implementation):
    """The function the grader calls for gradient_descent: the learner's, with a list of weights made an array."""

    @functools.wraps(implementation)
    def as_array(*args):
        ws = implementation(*args)
        if isinstance(ws, (list, tuple)):
            return np.array([to_host(v) for v in ws], dtype=np.float64)
        return ws

    return as_array


GRADIENT_DESCENT = Exercise(
    id="gradient_descent",
    signature="gradient_descent(w, x, t, lr, steps) -> ws   # w = w - lr * dE/dw, steps times; "
    "ws: (steps + 1,), ws[0] = w; x, t: (N,)",
    lesson="01_one_weight",
    outputs=("ws",),
    parts=(Part("ws", 2, ("ws",)),),
    make_case=_descent_case,
    visible_dims=({"N": 5, "steps": 8},),
    # N = 1 and steps = 1 last: a missing 1/N looks right with one example, a frozen gradient with one step
    hidden_dims=lambda rng: [
        {"N": int(rng.integers(10, 101)), "steps": int(rng.integers(5, 16))},
        {"N": int(rng.integers(2, 10)), "steps": int(rng.integers(2, 6))},
        {"N": 1, "steps": int(rng.integers(2, 8))},
        {"N": int(rng.integers(2, 20)), "steps": 1},
    ],
    shape_names={"ws": "(steps + 1,): the starting w, then the weight after each step"},
    adapt=_weights_as_array,
    mistakes=(
        Mistake("the weights climb the error: the gradient points uphill, so step against it, w = w - lr * dw",
                lambda c: _descent_with(c, sign=1.0)),
        Mistake("the 1/N is missing from the gradient: E is a mean over the N examples, so dw is one too "
                "(np.mean, or sum(...) / N); without it each step is N times too long",
                lambda c: _descent_with(c, scale=len(c.data["x"]))),
        Mistake("you returned only the final weight; return every weight visited: the starting w, "
                "then the weight after each step (steps + 1 numbers)", lambda c: {"ws": c.reference["ws"][-1]}),
        Mistake("ws[0] is missing: the list of weights starts with the starting w, before any step, "
                "so it holds steps + 1 numbers", lambda c: {"ws": c.reference["ws"][1:]}),
        Mistake("ws is one step ahead: ws[0] must be the starting w itself, and ws[k] the weight after k steps "
                "(append w before the loop, then once after each step)",
                lambda c: _descent_with(c, ahead=1)),
        Mistake("every step uses the gradient at the starting w: recompute dw at the current w inside the loop",
                lambda c: _descent_with(c, frozen=True)),
    ),
)


# ---------------------------------------------------------------------------------------------
# graph_backward(x, y, z, dout) -> (dx, dy, dz) for f = sigmoid(x * y + z) * x, elementwise.
# Forward: q = x * y + z;  s = sigmoid(q);  f = s * x.  x is used twice (in q and in the product),
# so dx adds two paths: dx = dq * y + dout * s, with dq = dout * x * s * (1 - s).


def _graph_forward(x, y, z):
    return _sigmoid_forward(x * y + z)[0] * x


def _graph_backward(x, y, z, dout):
    s = _sigmoid_forward(x * y + z)[0]
    ds = dout * x  # f = s * x
    dq = ds * s * (1 - s)  # s = sigmoid(q)
    return dq * y + dout * s, dq * x, dq  # x: through q and through the product


def _graph_case(rng, dims):
    shape = (dims["R"], dims["C"])
    x, y, z, dout = (rng.normal(size=shape) for _ in range(4))
    dx, dy, dz = _graph_backward(x, y, z, dout)
    targets = vjp_targets(_graph_forward, {"x": x, "y": y, "z": z}, dout)
    return Case(
        args=(x, y, z, dout),
        targets={"dx": targets["x"], "dy": targets["y"], "dz": targets["z"]},
        reference={"dx": dx, "dy": dy, "dz": dz},
        label=label(dims),
        data={"x": x, "y": y, "z": z, "dout": dout, "s": _sigmoid_forward(x * y + z)[0], "q": x * y + z},
    )


def _graph_with(c, local=None, ds=None, swap=False):
    """The gradients with one step changed: the sigmoid's local gradient, the gradient into s, or x and y swapped in q."""
    d = c.data
    x, y, s, dout = d["x"], d["y"], d["s"], d["dout"]
    ds = dout * x if ds is None else ds
    dq = ds * (s * (1 - s) if local is None else local)
    if swap:
        return {"dx": dq * x + dout * s, "dy": dq * y}
    return {"dx": dq * y + dout * s, "dy": dq * x, "dz": dq}


GRAPH_BACKWARD = Exercise(
    id="graph_backward",
    signature="graph_backward(x, y, z, dout) -> (dx, dy, dz)   # f = sigmoid(x * y + z) * x elementwise; all (R, C)",
    lesson="02_chain_rule",
    outputs=("dx", "dy", "dz"),
    parts=(Part("dz", 1, ("dz",)), Part("dy", 1, ("dy",)), Part("dx", 2, ("dx",))),
    make_case=_graph_case,
    visible_dims=({"R": 2, "C": 3},),
    hidden_dims=lambda rng: awkward_dims(rng, ["R", "C"]),
    shape_names={"dx": "(R, C), like x", "dy": "(R, C), like y", "dz": "(R, C), like z"},
    mistakes=(
        Mistake("dx has only the path through q = x * y + z: x is also multiplied by s = sigmoid(q) at the end, "
                "so add that path too: dx = dq * y + dout * s",
                lambda c: {"dx": c.reference["dz"] * c.data["y"]}),
        Mistake("dx has only the direct path (dout * s, from f = s * x): x also feeds q = x * y + z, "
                "so add dq * y (when a variable is used twice, its gradients add)",
                lambda c: {"dx": c.data["dout"] * c.data["s"]}),
        Mistake("the local gradients of x * y are swapped: d(x * y)/dx = y and d(x * y)/dy = x",
                lambda c: _graph_with(c, swap=True)),
        Mistake("the sigmoid's local gradient should be s * (1 - s) with s = sigmoid(q); "
                "yours uses s alone", lambda c: _graph_with(c, local=c.data["s"])),
        Mistake("the sigmoid's local gradient s * (1 - s) is evaluated on q, not on s = sigmoid(q)",
                lambda c: _graph_with(c, local=c.data["q"] * (1 - c.data["q"]))),
        Mistake("the gradient reaching s should be dout * x (f = s * x, so df/ds = x); yours leaves out x",
                lambda c: _graph_with(c, ds=c.data["dout"])),
        Mistake("dout is ignored: every gradient is the upstream gradient dout times the local ones",
                lambda c: dict(zip(("dx", "dy", "dz"), _graph_backward(c.data["x"], c.data["y"], c.data["z"], 1.0)))),
        Mistake("the signs are flipped", lambda c: {k: -v for k, v in c.reference.items()}),
    ),
)


# ---------------------------------------------------------------------------------------------
# numerical_gradient(f, x, dout, h) -> grad:  grad[i] = (g(x + h e_i) - g(x - h e_i)) / (2h),  g = sum(f(x) * dout)
#
# The test function is stiff on purpose: f(x) = exp(A @ (x - x0).ravel() + c), reshaped, with
# A = K * U(0.5, 1) > 0 mixing every entry of x into every output, dout > 0, and K * h = 1e-2. Then
# every entry of the gradient is positive and every derivative along an entry is a positive mix of
# the same exponentials, so each error is proportional to its gradient entry. Relative errors, in
# the grader's measure |yours - exact| / (|yours| + |exact|) (tolerance 1e-4):
#   central difference (correct):      <= (K h)^2 / 12 = 8e-6
#   forward or backward difference:    >= K h / 8      = 1.25e-3, on every entry
#   x not restored after an entry:     >= K h / 4      = 2.5e-3, on every later entry (A mixes them)
# The exact gradient is analytic; tests check that the reference numerical_gradient agrees with it.

_STIFFNESS = 1000.0
_H = 1e-5


def _stiff_function(rng, x_shape, out_shape):
    P, Q = math.prod(x_shape), math.prod(out_shape)
    x0 = rng.normal(size=x_shape)
    A = _STIFFNESS * rng.uniform(0.5, 1.0, size=(Q, P))
    c = rng.uniform(-1.0, 1.0, size=Q)
    flat0 = x0.ravel().copy()

    def f(x):
        return np.exp(A @ (np.asarray(x, dtype=np.float64).ravel() - flat0) + c).reshape(out_shape)

    def exact(dout):  # the gradient of sum(f(x) * dout) at x0
        return (A.T @ (dout.ravel() * np.exp(c))).reshape(x_shape)

    return f, x0, exact


def _numeric_case(rng, dims):
    f, x, exact = _stiff_function(rng, dims["x"], dims["out"])
    dout = rng.uniform(1.5, 3.0, size=dims["out"])
    grad = exact(dout)
    return Case(
        args=(f, x, dout, _H),
        targets={"grad": Value(grad)},
        reference={"grad": grad},
        label=f"x of shape {dims['x']}, f(x) of shape {dims['out']}, h={_H:g}",
        data={"f": f, "x": x, "dout": dout, "h": _H},
    )


def _numeric_dims(rng):
    def n(lo, hi):
        return int(rng.integers(lo, hi + 1))

    return [  # a single entry last: the first case that fails names the mistake
        {"x": (n(2, 5), n(2, 5)), "out": (n(2, 6),)},
        {"x": (n(2, 3), n(2, 3), n(2, 3)), "out": (n(2, 4), 1)},
        {"x": (1, n(2, 6)), "out": (n(2, 3), n(2, 3))},
        {"x": (n(2, 6), 1), "out": (n(1, 5),)},
        {"x": (n(2, 12),), "out": (1,)},
        {"x": (1,), "out": (n(1, 4),)},
        {"x": (), "out": (n(1, 4),)},  # a single number, a 0-d array: "any shape" includes it
    ]


def _g(c, x, dout=None):
    return float((c.data["f"](x) * (c.data["dout"] if dout is None else dout)).sum())


def _each_entry(c, step, dout=None):
    """{'grad': ...} with grad[i] = step(x, i, g, h) for every entry i of a fresh copy of x, in C order."""
    x = c.data["x"].copy()
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        grad[i] = step(x, i, lambda: _g(c, x, dout), c.data["h"])
    return {"grad": grad}


def _central(x, i, g, h, restore=True, denominator=2):
    old = x[i]
    x[i] = old + h
    plus = g()
    x[i] = old - h
    minus = g()
    if restore:
        x[i] = old
    return (plus - minus) / (denominator * h)


def _forward(x, i, g, h):
    old = x[i]
    base = g()
    x[i] = old + h
    plus = g()
    x[i] = old
    return (plus - base) / h


def _backward(x, i, g, h):
    old = x[i]
    base = g()
    x[i] = old - h
    minus = g()
    x[i] = old
    return (base - minus) / h


def _first_axis_only(c):
    x, h = c.data["x"].copy(), c.data["h"]
    if x.ndim < 2:
        raise ValueError("the same as looping over every entry")
    grad = np.zeros(x.shape)
    for i in range(len(x)):
        x[i] += h
        plus = _g(c, x)
        x[i] -= 2 * h
        minus = _g(c, x)
        x[i] += h
        grad[i] = (plus - minus) / (2 * h)
    return {"grad": grad}


def _all_at_once(c):
    x, h = c.data["x"], c.data["h"]
    return {"grad": np.full(x.shape, (_g(c, x + h) - _g(c, x - h)) / (2 * h))}


NUMERICAL_GRADIENT = Exercise(
    id="numerical_gradient",
    signature="numerical_gradient(f, x, dout, h) -> grad   # grad = d sum(f(x) * dout) / dx by central differences; "
    "x, grad: any shape (the same); dout: the shape of f(x)",
    lesson="02_chain_rule",
    outputs=("grad",),
    parts=(Part("grad", 3, ("grad",)),),
    make_case=_numeric_case,
    visible_dims=({"x": (4,), "out": (3,)}, {"x": (3, 4), "out": (2, 5)}, {"x": (2, 2, 3), "out": (2,)},
                  {"x": (), "out": (3,)}),
    hidden_dims=_numeric_dims,
    shape_names={"grad": "the shape of x"},
    mistakes=(
        Mistake("grad is all zeros: nothing was written into it, or f saw the same x in both evaluations "
                "(x_plus = x gives the same array another name, it does not copy: use x.copy(), or change x[i] "
                "and put it back)", lambda c: {"grad": np.zeros(c.data["x"].shape)}),
        Mistake("a forward difference (f(x + h) - f(x)) / h: its error grows like h times the curvature, and this "
                "test function curves sharply; use the central difference (f(x + h) - f(x - h)) / (2h)",
                lambda c: _each_entry(c, _forward)),
        Mistake("a backward difference (f(x) - f(x - h)) / h: its error grows like h times the curvature; "
                "use the central difference (f(x + h) - f(x - h)) / (2h)", lambda c: _each_entry(c, _backward)),
        Mistake("grad is twice the true gradient: x + h and x - h are 2h apart, so divide by 2 * h, not by h",
                lambda c: _each_entry(c, lambda x, i, g, h: _central(x, i, g, h, denominator=1))),
        Mistake("the difference is the wrong way round: (f(x + h) - f(x - h)) / (2h), plus first",
                lambda c: {"grad": -c.reference["grad"]}),
        Mistake("(f(x + h) - f(x)) / (2h): half of a one-sided difference. If you wrote x_plus = x and "
                "x_minus = x, they are one array (no copy), so x_minus[i] -= h undid x_plus[i] += h and f saw x, "
                "not x - h", lambda c: {"grad": 0.5 * _each_entry(c, _forward)["grad"]}),
        Mistake("dout is ignored: the gradient is that of sum(f(x) * dout), not of sum(f(x))",
                lambda c: _each_entry(c, _central, dout=1.0)),
        Mistake("x is not restored after each entry: it is left at x[i] - h, so every later entry is measured at "
                "the wrong point. Put the old value back (x[i] = old) before moving on",
                lambda c: _each_entry(c, lambda x, i, g, h: _central(x, i, g, h, restore=False))),
        Mistake("your loop runs over the first axis only: when x has more than one axis, x[i] is a whole row, "
                "so all of it moved at once. Loop over every entry: for i in np.ndindex(x.shape)",
                _first_axis_only),
        Mistake("every entry of x was moved at once (x + h): move one entry at a time, the others held still",
                _all_at_once),
    ),
)

EXERCISES = [ONE_WEIGHT_GRAD, GRADIENT_DESCENT, GRAPH_BACKWARD, NUMERICAL_GRADIENT]
