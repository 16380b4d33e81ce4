"""The lesson 6 widget: four optimisers on a 2-D surface; its numbers against the update rules and
the surfaces written out here, and the learner's rules used (or the reference, when not written)."""
import math
import re

import ipywidgets as widgets
import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.widgets import optimisers


def _not_written(*args):
    raise NotImplementedError()


def _bowl(w):
    return 0.5 * (w[0] ** 2 + 10 * w[1] ** 2), np.array([w[0], 10 * w[1]])


def _rosenbrock(w):
    a, b = w
    return (1 - a) ** 2 + 10 * (b - a * a) ** 2, np.array([-2 * (1 - a) - 40 * a * (b - a * a), 20 * (b - a * a)])


SURFACES = {"bowl": (_bowl, (-4.0, 1.5)), "Rosenbrock": (_rosenbrock, (-1.2, 1.0))}


def _lr(schedule, lr, steps, t):
    if schedule == "constant":
        return lr
    if schedule == "step decay":
        return lr * 0.5 ** (t // (steps // 4))
    if schedule == "exponential":
        return lr * 0.05 ** (t / steps)
    return lr * (1 + math.cos(math.pi * t / steps)) / 2  # cosine, to 0 at the last step


def _final_loss(name, surface, lr, steps, schedule="constant", mu=0.9):
    """The loss after `steps` steps of optimiser `name`, by the textbook rules; None if it blew up."""
    f, start = SURFACES[surface]
    w, v, m = np.array(start), np.zeros(2), np.zeros(2)
    for t in range(steps):
        _, g = f(w)
        eta = _lr(schedule, lr, steps, t)
        if name == "SGD":
            w = w - eta * g
        elif name == "momentum":
            v = mu * v + g
            w = w - eta * v
        elif name == "Nesterov":
            v = mu * v + g
            w = w - eta * (g + mu * v)
        else:
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w = w - eta * (m / (1 - 0.9 ** (t + 1))) / (np.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8)
        if not np.all(np.abs(w) < 1e6):
            return None
    return f(w)[0]


def _finals(status):
    """{optimiser: final loss as printed, or None (diverged)} from the status line."""
    drawn = status.split(" | ", 1)[1]
    assert drawn.startswith("final loss: "), status
    found = dict(re.findall(r"(SGD|momentum|Nesterov|Adam) (diverged|[-\d.e+]+)", drawn))
    assert list(found) == ["SGD", "momentum", "Nesterov", "Adam"], status
    return {k: None if v == "diverged" else v for k, v in found.items()}


def _assert_finals(status, surface, lr, steps, schedule="constant"):
    for name, got in _finals(status).items():
        want = _final_loss(name, surface, lr, steps, schedule)
        if want is None:
            assert got is None, (name, status)
        else:
            assert got == f"{want:.3g}", (name, status)


def _race():
    return optimisers.race(_not_written, _not_written, _not_written, _not_written)


def test_a_slider_comes_first_and_the_widget_carries_its_classes():
    w = _race()
    first = next(iter(w.controls.values()))
    assert isinstance(first, widgets.FloatLogSlider) and first.readout_format == ".3g" and not first.continuous_update
    assert list(w.controls) == ["lr", "steps", "surface", "schedule"]
    assert {"bp-widget", "bp-optimisers"} <= set(w._dom_classes) and "bp-status" in w.status._dom_classes


def test_the_status_gives_each_optimisers_final_loss():
    w = _race()
    assert w.status.value.startswith("lr = 0.0100, steps = 100, surface = bowl, schedule = constant | final loss: ")
    _assert_finals(w.status.value, "bowl", 0.01, 100)
    finals = _finals(w.status.value)
    assert float(finals["momentum"]) < 0.01 * float(finals["SGD"])  # the lesson asks why momentum gets further


@pytest.mark.parametrize("surface, lr, steps", [("bowl", 0.1, 40), ("bowl", 0.21, 60), ("Rosenbrock", 0.005, 150),
                                                ("Rosenbrock", 0.05, 100)])
def test_moving_the_controls_redraws_with_the_new_numbers(surface, lr, steps):
    w = _race()
    w.controls["surface"].value = surface
    w.controls["steps"].value = steps
    w.controls["lr"].value = lr
    assert w.status.value.startswith(f"lr = {lr:#.3g}, steps = {steps}, surface = {surface}, schedule = constant | ")
    _assert_finals(w.status.value, surface, lr, steps)


def test_too_large_a_learning_rate_is_reported_as_diverged():
    w = _race()
    w.controls["surface"].value = "Rosenbrock"
    w.controls["lr"].value = 0.1
    finals = _finals(w.status.value)
    assert finals["SGD"] is None and finals["momentum"] is None and finals["Adam"] is not None


@pytest.mark.parametrize("schedule", optimisers.SCHEDULES)
def test_each_schedule_sets_the_learning_rate_of_every_step(schedule):
    w = _race()
    w.controls["schedule"].value = schedule
    assert w.status.value.startswith(f"lr = 0.0100, steps = 100, surface = bowl, schedule = {schedule} | ")
    _assert_finals(w.status.value, "bowl", 0.01, 100, schedule)
    lr_at = optimisers.schedule(schedule, 0.01, 100)
    assert [lr_at(t) for t in (0, 50, 99)] == pytest.approx([_lr(schedule, 0.01, 100, t) for t in (0, 50, 99)])


def test_the_learners_rules_are_the_ones_at_work():
    def uphill(w, dw, lr):  # a wrong SGD: the widget must show what it does
        return w + lr * dw

    w = optimisers.race(uphill, bp.momentum_step, _not_written, None)
    w.controls["lr"].value = 0.05
    finals = _finals(w.status.value)
    assert finals["SGD"] is None  # it climbed out of the bowl
    assert finals["momentum"] == f"{_final_loss('momentum', 'bowl', 0.05, 100):.3g}"
    note = w.children[-1].value
    assert note.startswith("using your sgd_step, momentum_step; using the reference nesterov_step: ")
    assert "adam_step" not in note  # None: the reference, silently


def test_unwritten_rules_fall_back_to_the_reference_and_say_so():
    w = _race()
    note = w.children[-1].value
    assert note == ("using the reference sgd_step, momentum_step, nesterov_step, adam_step: "
                    "write yours above, then re-run this cell to see your own at work")


def test_the_reference_note_is_said_once():
    w = optimisers.race(bp.sgd_step, _not_written, _not_written, bp.adam_step)
    note = w.children[-1].value
    assert note.count("write yours above") == 1 and note.count("using the reference") == 1
    assert note == ("using your sgd_step, adam_step; using the reference momentum_step, nesterov_step: "
                    "write yours above, then re-run this cell to see your own at work")


def test_the_learning_rate_slider_crosses_its_range_in_a_few_dozen_presses():
    """A key press moves a slider by one step: 0.001 to about 0.4 must not take hundreds of them."""
    slider = _race().controls["lr"]
    presses = round((slider.max - slider.min) / slider.step)
    assert 20 <= presses <= 40
    assert slider.base ** slider.min == pytest.approx(0.001) and slider.base ** slider.max > 0.3
    # the values the lesson's questions name are on the slider (to the readout's three digits)
    positions = slider.base ** (slider.min + slider.step * np.arange(presses + 1))
    for asked in (0.01, 0.2):
        assert np.min(np.abs(positions - asked)) / asked < 0.005


def test_each_panel_has_axis_labels_a_start_and_the_minimum():
    import matplotlib.pyplot as plt

    w = _race()
    fig = plt.figure(figsize=w.figsize)
    w.draw(fig, **w.values())
    axes = fig.get_axes()
    assert len(axes) == 4
    start, minimum = optimisers.BOWL.start, optimisers.BOWL.minimum
    for ax in axes:
        points = {(float(x), float(y)) for line in ax.get_lines() for x, y in zip(line.get_xdata(), line.get_ydata())
                  if len(line.get_xdata()) == 1}
        assert start in points and minimum in points  # single-point markers: the start and the star
        assert len(ax.get_xticks()) and len(ax.get_yticks())  # a scale to read the path against
    assert [ax.get_xlabel() for ax in axes[2:]] == ["$w_1$"] * 2 and [ax.get_ylabel() for ax in axes[::2]] == ["$w_2$"] * 2
    assert {t.get_text() for t in axes[0].get_legend().get_texts()} == {"path", "start", "minimum"}
    assert fig.get_figwidth() >= 9 and fig.get_figheight() >= 6  # four panels of a readable size, not a strip
    plt.close(fig)


def test_trajectory_returns_the_path_and_its_losses():
    path, losses = optimisers.trajectory("Adam", bp.adam_step, optimisers.BOWL, 0.1, 30)
    assert path.shape == (31, 2) and losses.shape == (31,)
    assert tuple(path[0]) == optimisers.BOWL.start
    assert losses == pytest.approx([_bowl(w)[0] for w in path])
    path, _ = optimisers.trajectory("SGD", bp.sgd_step, optimisers.ROSENBROCK, 0.2, 100)
    assert optimisers.diverged(path) and len(path) < 101  # cut where it blew up


@pytest.mark.parametrize("name", ["bowl", "Rosenbrock"])
def test_the_surfaces_gradients_match_central_differences(name):
    surface = optimisers.SURFACES[name]
    for w in np.random.default_rng(0).normal(size=(5, 2)):
        h = 1e-6
        numeric = [(surface.f(*(w + h * e)) - surface.f(*(w - h * e))) / (2 * h) for e in np.eye(2)]
        assert surface.grad(w) == pytest.approx(numeric, rel=1e-6, abs=1e-6)
        assert surface.f(*w) == pytest.approx(SURFACES[name][0](w)[0])
