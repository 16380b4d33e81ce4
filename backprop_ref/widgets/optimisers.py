"""Lesson 06: four optimisers race down the same 2-D loss surface, each with the learner's update rule.

``race(sgd_step, momentum_step, nesterov_step, adam_step)`` draws one panel per optimiser: the surface's
contours and the path its rule takes from the same start, with the same learning rate and schedule.
The pure parts (the surfaces, ``trajectory``) take no display, so tests can check their numbers.
"""
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np

from .. import optim
from ._base import Explorer, learner_or_reference

MU = 0.9  # momentum and Nesterov
ADAM = dict(beta1=0.9, beta2=0.999, eps=1e-8)
BLOWN_UP = 1e6  # a path is cut (and called diverged) once a coordinate is this large


@dataclass(frozen=True)
class Surface:
    """A loss f(w) of two weights, its gradient, where the race starts and the window drawn."""

    f: object  # f(w1, w2) -> loss, elementwise on arrays
    grad: object  # grad(w) -> dw, w and dw: (2,)
    start: tuple
    xlim: tuple
    ylim: tuple
    minimum: tuple


# An elongated bowl: curvature 1 along w1, 10 along w2. Plain gradient descent zigzags across the
# steep direction and crawls along the shallow one.
BOWL = Surface(
    f=lambda w1, w2: 0.5 * (w1**2 + 10 * w2**2),
    grad=lambda w: np.array([w[0], 10 * w[1]]),
    start=(-4.0, 1.5),
    xlim=(-4.5, 1.5),
    ylim=(-2.0, 2.0),
    minimum=(0.0, 0.0),
)

# Rosenbrock's banana valley (with b = 10, not the usual 100, so plain SGD survives some learning rates):
# easy to fall into the valley, hard to follow its curve to the minimum at (1, 1).
ROSENBROCK = Surface(
    f=lambda w1, w2: (1 - w1) ** 2 + 10 * (w2 - w1**2) ** 2,
    grad=lambda w: np.array([-2 * (1 - w[0]) - 40 * w[0] * (w[1] - w[0] ** 2), 20 * (w[1] - w[0] ** 2)]),
    start=(-1.2, 1.0),
    xlim=(-2.0, 2.0),
    ylim=(-1.0, 3.0),
    minimum=(1.0, 1.0),
)

SURFACES = {"bowl": BOWL, "Rosenbrock": ROSENBROCK}
OPTIMISERS = ("SGD", "momentum", "Nesterov", "Adam")
RULE_NAMES = {"SGD": "sgd_step", "momentum": "momentum_step", "Nesterov": "nesterov_step", "Adam": "adam_step"}
SCHEDULES = ("constant", "step decay", "exponential", "cosine")
LR_RANGE = (-3.0, -0.4)  # the race's lr slider: from 10**-3 = 0.001 to 10**-0.4 = 0.398, on a log scale
LR_STEP = 0.1  # ... in steps of x1.26 (ten per decade): 26 key presses cross it


def schedule(name, lr, steps):
    """The learning rate at each step t = 0, 1, ...: one of bp.optim's schedules, scaled to `steps`."""
    if name == "constant":
        return optim.constant(lr)
    if name == "step decay":
        return optim.step_decay(lr, 0.5, max(1, steps // 4))  # halve it 4 times over the run
    if name == "exponential":
        return optim.exponential_decay(lr, 0.05 ** (1 / steps))  # down to 5% by the end
    if name == "cosine":
        return optim.cosine_decay(lr, steps)
    raise ValueError(f"schedule: name must be one of {SCHEDULES}, got {name!r}")


def trajectory(optimiser, rule, surface, lr, steps, schedule_name="constant"):
    """The path of `optimiser` ("SGD", "momentum", "Nesterov", "Adam") on `surface` with update `rule`.

    rule: the update rule with bp.optim's signature for that optimiser (sgd_step(w, dw, lr), ...)
    -> path: (K + 1, 2), the start and the weights after each step, and losses: (K + 1,);
       K = steps, or fewer when the path blew up (then the last point is the first non-finite or huge one).
    """
    lr_at = schedule(schedule_name, lr, steps)
    w = np.array(surface.start, dtype=np.float64)
    v, m = np.zeros(2), np.zeros(2)  # velocity (momentum, Nesterov) or second moment (Adam); first moment
    path = [w]
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            dw, lr_t = surface.grad(w), lr_at(t)
            if optimiser == "SGD":
                w = rule(w, dw, lr_t)
            elif optimiser in ("momentum", "Nesterov"):
                w, v = rule(w, dw, v, lr_t, MU)
            elif optimiser == "Adam":
                w, m, v = rule(w, dw, m, v, t + 1, lr_t, ADAM["beta1"], ADAM["beta2"], ADAM["eps"])
            else:
                raise ValueError(f"trajectory: optimiser must be one of {OPTIMISERS}, got {optimiser!r}")
            w = np.asarray(w, dtype=np.float64).copy()  # never aliased with a rule's internal state
            path.append(w)
            if not np.all(np.abs(w) < BLOWN_UP):
                break
        path = np.array(path)
        losses = surface.f(path[:, 0], path[:, 1])
    return path, losses


def diverged(path):
    return not np.all(np.abs(path[-1]) < BLOWN_UP)


def race(sgd_step=None, momentum_step=None, nesterov_step=None, adam_step=None, lr=0.01, steps=100):
    """Four panels, one per optimiser, each running the given update rule (None: the reference's).

    Controls: lr (first; logarithmic, each key press multiplies it by 10**LR_STEP), steps, surface,
    schedule. Each panel shows the surface's contours, the start (a circle), the minimum (a star) and
    the path. The status gives each optimiser's final loss; the note under it says once whose rules run.
    """
    given = {"SGD": sgd_step, "momentum": momentum_step, "Nesterov": nesterov_step, "Adam": adam_step}
    references = {"SGD": optim.sgd_step, "momentum": optim.momentum_step, "Nesterov": optim.nesterov_step,
                  "Adam": optim.adam_step}
    rules = {name: references[name] if fn is None else learner_or_reference(fn, references[name], RULE_NAMES[name])
             for name, fn in given.items()}
    note = widgets.HTML()
    note.add_class("bp-note")
    grids = {}

    def contours(name):
        if name not in grids:  # the contour grid of a surface never changes: compute it once
            s = SURFACES[name]
            w1, w2 = np.meshgrid(np.linspace(*s.xlim, 120), np.linspace(*s.ylim, 120))
            grids[name] = (w1, w2, s.f(w1, w2))
        return grids[name]

    def draw(fig, lr, steps, surface, schedule):
        s = SURFACES[surface]
        w1, w2, f = contours(surface)
        levels = np.geomspace(max(f.min(), 1e-3), f.max(), 12)
        finals = []
        axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
        for i, (name, ax) in enumerate(zip(OPTIMISERS, axes)):
            path, losses = trajectory(name, rules[name], s, lr, steps, schedule)
            ax.contour(w1, w2, f, levels=levels, colors="0.75", linewidths=0.6)
            shown = path[np.all(np.abs(path) < BLOWN_UP, axis=1)]
            ax.plot(shown[:, 0], shown[:, 1], ".-", color=f"C{i}", markersize=3, linewidth=1, label="path")
            ax.plot(*s.start, "o", mfc="none", mec="k", mew=1.5, markersize=8, label="start")
            ax.plot(*s.minimum, marker="*", color="k", markersize=10, linestyle="none", label="minimum")
            final = "diverged" if diverged(path) else f"{losses[-1]:.3g}"
            ax.set(xlim=s.xlim, ylim=s.ylim, aspect="equal")
            ax.set_title(f"{name}: diverged at step {len(path) - 1}" if diverged(path)
                         else f"{name}: loss {final} after {len(path) - 1} steps", fontsize=9)
            ax.tick_params(labelsize=7)
            if i >= 2:
                ax.set_xlabel("$w_1$", fontsize=9)
            if i % 2 == 0:
                ax.set_ylabel("$w_2$", fontsize=9)
            finals.append(f"{name} {final}")
        axes[0].legend(loc="upper right", fontsize=7, framealpha=0.8)
        fig.subplots_adjust(left=0.07, right=0.99, bottom=0.08, top=0.95, wspace=0.08, hspace=0.25)
        note.value = whose_rules(rules)
        return "final loss: " + ", ".join(finals)

    controls = {
        "lr": widgets.FloatLogSlider(value=lr, base=10, min=LR_RANGE[0], max=LR_RANGE[1], step=LR_STEP,
                                     description="lr", readout_format=".3g", continuous_update=False),
        "steps": widgets.IntSlider(value=steps, min=5, max=300, step=5, description="steps",
                                   readout_format="d", continuous_update=False),
        "surface": widgets.Dropdown(options=list(SURFACES), value="bowl", description="surface"),
        "schedule": widgets.Dropdown(options=list(SCHEDULES), value="constant", description="schedule"),
    }
    for control in controls.values():
        control.layout.width = "220px"
    explorer = Explorer(draw, controls, figsize=(9, 6.4), css_class="bp-optimisers")
    explorer.children = explorer.children + (note,)
    return explorer


def whose_rules(rules):
    """One line: which of the given rules are the learner's and which the reference's (said once)."""
    given = [rule for rule in rules.values() if isinstance(rule, learner_or_reference)]
    if not given:
        return "using the reference update rules"
    yours = [rule.name for rule in given if not rule.using_reference]
    theirs = [rule.name for rule in given if rule.using_reference]
    parts = []
    if yours:
        parts.append("using your " + ", ".join(yours))
    if theirs:
        parts.append("using the reference " + ", ".join(theirs)
                     + ": write yours above, then re-run this cell to see your own at work")
    return "; ".join(parts)
