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


CHECKS = {
    "01_one_weight": one_weight,
    "02_chain_rule": chain_rule,
    "03_dense_layer": dense_layer,
    "04_losses": losses,
    "05_static_backprop": static_backprop,
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
