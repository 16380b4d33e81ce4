"""Every lesson's widgets, in JupyterLab in a real browser: they render, and the keyboard moves them.

For each notebook with widgets (solutions/NN_name/name.ipynb), the test opens it, runs all cells, and
for every lesson widget (``.bp-widget``):

1. it is drawn as a widget (not its text repr), with a status line (``.bp-status``) and a plot image;
2. its first slider's handle, focused, takes ArrowRight presses (ArrowLeft at the top of its range)
   until its readout changes;
3. the status line then starts with the new readout ("w = 3.75 | ...": it is set after the figure,
   so the figure for that value is on screen), and the plot image differs from before.

Lesson-specific checks: ``CHECKS`` maps a lesson to a function of (lab, moves) that recomputes, from
the settings the browser shows, the numbers the status line must give (independently of the widget's
code), or drives the lesson's other controls.
"""
import json
import re
import time
from dataclasses import dataclass

import numpy as np
import pytest

from backprop_ref.widgets.one_weight import toy_data

pytestmark = pytest.mark.browser

MAX_PRESSES = 12  # per direction: enough for a readout with fewer decimals than the step


@dataclass
class Move:
    notebook: str  # "01_one_weight"
    index: int  # which .bp-widget on the page, in order
    key: str  # the key pressed ("ArrowRight" or "ArrowLeft")
    presses: int
    before: object  # lab_driver.WidgetState: status, settings, numbers, image, readouts
    after: object


def number(status, name):
    """The number after "name = " (or "name ") in a status line."""
    found = re.search(rf"{re.escape(name)} =? ?(-?[\d.]+(?:e[-+]?\d+)?)", status)
    assert found, f"no {name!r} in the status line {status!r}"
    return float(found.group(1))


def moved(moves, css_class):
    found = [m for m in moves if css_class in m.after.name]
    assert found, f"no widget {css_class} was moved; moved: {[m.after.name for m in moves]}"
    return found[0]


def one_weight(lab, moves):
    x, t = toy_data()  # the lesson's data: E and dE/dw are recomputed here from their formulas
    move = moved(moves, "bp-one-weight")
    w, w_before = float(move.after.settings["w"]), float(move.before.settings["w"])
    E = np.mean((w * x - t) ** 2) / 2
    assert number(move.after.status, "E") == pytest.approx(E, abs=1e-4)
    assert number(move.after.status, "derivative") == pytest.approx(np.mean((w * x - t) * x), abs=1e-4)
    went = "up" if E > np.mean((w_before * x - t) ** 2) / 2 else "down"
    assert f"({went} from" in move.after.status, f"E went {went} from w = {w_before} to {w}: {move.after.status!r}"


def chain_rule(lab, moves):
    move = moved(moves, "bp-chain-rule")
    x, y, z = (float(move.after.settings[k]) for k in "xyz")
    s = 1 / (1 + np.exp(-(x * y + z)))
    assert number(move.after.status, "f") == pytest.approx(s * x, abs=1e-4)
    assert number(move.after.status, "df/dz") == pytest.approx(x * s * (1 - s), abs=1e-4)


def dense_layer(lab, moves):
    move = moved(moves, "bp-decision-line")
    w1, w2, b = (float(move.after.settings[k]) for k in ("w1", "w2", "b"))
    assert move.after.settings["bias_unit"] == "True"
    assert number(move.after.status, "distance from origin") == pytest.approx(abs(b) / np.hypot(w1, w2), abs=0.006)


def losses(lab, moves):
    move = moved(moves, "bp-overflow")
    logits = float(move.after.settings["scale"]) * np.array([1.0, 0.5, -1.0])  # label 1
    stable = logits.max() + np.log(np.exp(logits - logits.max()).sum()) - logits[1]
    # the readout shows the scale to 3 significant digits: the loss follows it to about 0.5%
    assert number(move.after.status, "stable loss") == pytest.approx(stable, rel=6e-3)


def static_backprop(lab, moves):
    """The trainer's Step button, pressed from the keyboard, trains: the epoch count goes up, the loss changes."""
    index = next(i for i in range(lab.widgets().count()) if "bp-spirals" in lab.widget_state(i).name)
    before = lab.widget_state(index)
    lab.widgets().nth(index).locator(".bp-step").first.focus()
    lab.page.keyboard.press("Enter")
    after = lab.wait_widget(index, lambda s: number(s.status, "epoch") > number(before.status, "epoch"),
                            f"pressing Enter on the Step button did not train (status {before.status!r})")
    assert number(after.status, "loss") != number(before.status, "loss")
    assert after.image != before.image, "the plot did not change after a training step"


def what_backprop_is_not(lab, moves):
    """Four rules from the same gradients: each final loss recomputed from the rules written out here (gradients by
    central differences); mini-batches: the predicted spread from per-example gradients of the formula p - Y."""
    from backprop_ref.widgets.what_backprop_is_not import NEURON_START, classifier_weights, neuron_data, spirals

    move = moved(moves, "bp-four-optimisers")
    lr = 10 ** (round(np.log10(float(move.after.settings["lr"])) / 0.1) * 0.1)  # the slider's exact value: 10**(k/10)
    steps = int(move.after.settings["steps"])
    x, t = neuron_data()

    def loss(w):
        z = w[0] * x + w[1]
        return np.mean(np.where(t == 1, np.logaddexp(0, -z), np.logaddexp(0, z)))

    for name in ("SGD", "momentum", "Nesterov", "Adam"):
        w, v, m = np.array(NEURON_START), np.zeros(2), np.zeros(2)
        for k in range(1, steps + 1):
            g = np.array([(loss(w + 1e-6 * e) - loss(w - 1e-6 * e)) / 2e-6 for e in np.eye(2)])
            if name == "Adam":
                m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
                w = w - lr * (m / (1 - 0.9**k)) / (np.sqrt(v / (1 - 0.999**k)) + 1e-8)
            else:
                v = 0.9 * v + g
                w = w - lr * {"SGD": g, "momentum": v, "Nesterov": g + 0.9 * v}[name]
        assert number(move.after.status, name) == pytest.approx(loss(w), abs=2e-4), name

    move = moved(moves, "bp-minibatch-spread")
    B = int(move.after.settings["B"])
    x, y = spirals()
    x1 = np.hstack([x, np.ones((len(x), 1))])
    z = x1 @ classifier_weights()
    delta = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) - np.eye(2)[y]
    G = x1[:, :, None] * delta[:, None, :]
    singles = np.sqrt(((G - G.mean(axis=0)) ** 2).sum(axis=(1, 2)).mean())
    assert number(move.after.status, "predicted") == pytest.approx(singles / np.sqrt(B), abs=2e-4)
    assert number(move.after.status, "spread") == pytest.approx(singles / np.sqrt(B), rel=0.15)


def jacobians(lab, moves):
    """The backward stepper: f and its gradients from f = tanh(x y + x) * x y and its derivatives, written out."""
    move = moved(moves, "bp-backward-stepper")
    x, y, step = float(move.after.settings["x"]), float(move.after.settings["y"]), int(move.after.settings["step"])
    c = np.tanh(x * y + x)
    slope = (1 - c**2) * x * y  # d f / d(x y + x), since f = c * (x y)
    assert number(move.after.status, "f") == pytest.approx(c * x * y, abs=1e-4)
    assert number(move.after.status, "df/dx") == pytest.approx(slope * (y + 1) + c * y, abs=1e-4)
    assert number(move.after.status, "df/dy") == pytest.approx(slope * x + c * x, abs=1e-4)
    assert f"write {step}: " in move.after.status, move.after.status


def fixed_point(lab, moves):
    """Residuals: each relaxation's iterations recomputed by plain loops from the scale shown; BPTT: the relative
    difference at k between BPTT through k steps and a linear solve of the adjoint equation."""
    from backprop_ref.widgets.fixed_point import gradient_problem, residual_problem

    def relaxed(step, v, tol, max_iter):
        for k in range(1, max_iter + 1):
            new = step(v)
            change, v = np.abs(new - v).max(), new
            if change < tol:
                return v, f"settled in {k} iterations"
        return v, f"did not settle in {max_iter} iterations"

    move = moved(moves, "bp-fixed-point-residuals")
    scale = float(move.after.settings["scale"])
    x, W1, U, ds = residual_problem()
    W, u = scale * W1, x @ U[:-1] + U[-1]
    s, forward = relaxed(lambda s: np.tanh(s @ W + u), np.zeros(ds.shape), 1e-8, 300)
    backward = "not run (no fixed point)"
    if forward.startswith("settled"):
        fprime = 1 - np.tanh(s @ W + u) ** 2
        backward = relaxed(lambda lam: ds + (lam * fprime) @ W.T, np.zeros(ds.shape), 1e-8, 300)[1]
    assert move.after.status.endswith(f"| forward {forward}, backward {backward}"), move.after.status

    move = moved(moves, "bp-fixed-point-bptt")
    k, scale = int(move.after.settings["k"]), float(move.after.settings["scale"])
    x, W1, U, ds = gradient_problem()
    W, u = scale * W1, x @ U[:-1] + U[-1]
    states = [np.zeros(ds.shape)]
    for _ in range(max(k, 2000)):
        states.append(np.tanh(states[-1] @ W + u))
    s = states[-1]
    fprime = 1 - s**2
    lam = np.stack([np.linalg.solve(np.eye(len(W)) - W * f, d) for f, d in zip(fprime, ds)])
    exact = s.T @ (lam * fprime)
    dW, g = np.zeros(W.shape), ds
    for t in range(k, 0, -1):
        dz = g * (1 - states[t] ** 2)
        dW, g = dW + states[t - 1].T @ dz, dz @ W.T
    gap = np.linalg.norm(dW - exact) / np.linalg.norm(exact)
    assert number(move.after.status, "relative difference of dW at k:") == pytest.approx(gap, rel=2e-3, abs=1e-13)


def backprop_through_time(lab, moves):
    """Gradient norms: ||dL/dh_0|| by the product of the steps' Jacobians, written out from the scale shown; the
    heatmap: |dh_19/dx_0| by the same product, forward; the window: truncated against full BPTT, both the
    reference's, and the gap to the windowed loss's differences tiny."""
    import backprop_ref as bp
    from backprop_ref.widgets.backprop_through_time import T_INFLUENCE, T_NORMS, network, window_problem

    def states(x, h0, Wx, Wh):
        h, out = h0[0], []
        for t in range(x.shape[1]):
            h = np.tanh(x[0, t] @ Wx[:-1] + Wx[-1] + h @ Wh)
            out.append(h)
        return out

    move = moved(moves, "bp-gradient-norms")
    x, h0, Wx, Wh, g = network(float(move.after.settings["scale"]), T_NORMS)
    h = states(x, h0, Wx, Wh)
    for t in range(T_NORMS - 1, 0, -1):  # dL/dh_{t-1} = (dL/dh_t * (1 - h_t**2)) Wh^T
        g = (g * (1 - h[t] ** 2)) @ Wh.T
    assert number(move.after.status, "||dL/dh_0||") == pytest.approx(np.linalg.norm(g), rel=2e-3)

    move = moved(moves, "bp-influence")
    x, h0, Wx, Wh, _ = network(float(move.after.settings["scale"]), T_INFLUENCE)
    h = states(x, h0, Wx, Wh)
    J = Wx[:-1] * (1 - h[0] ** 2)
    for t in range(1, T_INFLUENCE):
        J = (J @ Wh) * (1 - h[t] ** 2)
    assert number(move.after.status, f"|dh_{T_INFLUENCE - 1}/dx_0|") == pytest.approx(np.linalg.norm(J), rel=2e-3)

    move = moved(moves, "bp-window")
    k = int(move.after.settings["k"])
    dh, x, h0, Wx, Wh = window_problem()
    _, cache = bp.rnn_forward(x, h0, Wx, Wh)
    truncated, full = (np.concatenate([np.ravel(a) for a in bp.rnn_backward(dh, cache, truncate=w)[:4]]) for w in (k, None))
    gap = np.linalg.norm(truncated - full) / np.linalg.norm(full)
    assert number(move.after.status, "truncated vs full: relative error") == pytest.approx(gap, rel=2e-3, abs=1e-12)
    assert number(move.after.status, "windowed loss:") < 1e-6


CHECKS = {
    "01_one_weight": one_weight,
    "02_chain_rule": chain_rule,
    "03_dense_layer": dense_layer,
    "04_losses": losses,
    "05_static_backprop": static_backprop,
    "08_backprop_through_time": backprop_through_time,
    "10_jacobians": jacobians,
    "09_fixed_point": fixed_point,
    "11_what_backprop_is_not": what_backprop_is_not,
}


def move_first_control(lab, index, before):
    """Press arrow keys on the widget's first slider until its readout changes; return (key, presses, readout)."""
    widget = lab.widgets().nth(index)
    handle = widget.locator(".noUi-handle").first
    old = before.readouts[0] if before.readouts else None
    for key in ("ArrowRight", "ArrowLeft"):
        handle.focus()
        for presses in range(1, MAX_PRESSES + 1):
            lab.page.keyboard.press(key)
            now = lab.widget_state(index).readouts
            if now and now[0] != old:
                return key, presses, now[0]
    pytest.fail(f"widget {index} ({before.name}): its first slider's readout stayed "
                f"{old!r} after {MAX_PRESSES} ArrowRight and {MAX_PRESSES} ArrowLeft presses")


def test_widgets_render_and_follow_the_keyboard(lab, widget_notebook):
    name = widget_notebook.split("/")[0]
    cells = json.loads((lab.server.notebooks / widget_notebook).read_text(encoding="utf-8"))["cells"]

    started = time.monotonic()
    lab.open_notebook(widget_notebook)
    opened = time.monotonic()
    lab.run_all(metadata=cells)
    ran = time.monotonic()

    count = lab.widgets().count()
    if count == 0:
        pytest.fail(f"{widget_notebook}: no lesson widget (.bp-widget) on the page after Run All "
                    "(the notebook mentions widgets, but shows no Explorer-style lesson widget)")

    moves = []
    for index in range(count):
        before = lab.wait_widget_rendered(index)
        if before.sliders == 0:
            continue  # no slider to move: rendering is all that is checked here
        key, presses, readout = move_first_control(lab, index, before)
        after = lab.wait_widget(
            index,
            # a control's value in the status line changed, to exactly the slider's new readout
            lambda s: any(v == readout and before.settings.get(k) != v for k, v in s.settings.items()),
            f"the status line did not show the slider's new readout {readout!r} (before the move it was "
            f"{before.status!r}; the status line gives the controls' values as their readouts show them)",
        )
        if not after.image or after.image == before.image:
            pytest.fail(f"widget {index} ({before.name}): the plot did not change when its first "
                        f"slider moved from {before.readouts[0]!r} to {readout!r} (status line "
                        f"{before.status!r} -> {after.status!r})")
        moves.append(Move(name, index, key, presses, before, after))
        print(f"{name} widget {index}: {presses} x {key}: {before.status!r} -> {after.status!r}")

    check = CHECKS.get(name)
    if check is not None:
        check(lab, moves)
    print(f"{name}: opened to idle kernel {opened - started:.1f} s, Run All {ran - opened:.1f} s, "
          f"{count} widget(s) checked {time.monotonic() - ran:.1f} s")
