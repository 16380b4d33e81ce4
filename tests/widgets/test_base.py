import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import Explorer, autograding, learner_or_reference


def test_explorer_redraws_on_every_change_and_reports_readouts_then_numbers():
    drawn = []

    def draw(fig, w, n):
        drawn.append((w, n))
        fig.add_subplot().plot([0, 1], [0, w])
        return f"twice w = {2 * w:.2f}"

    explorer = Explorer(draw, {"w": widgets.FloatSlider(value=1.0, min=0, max=4, step=0.25, readout_format=".2f"),
                               "n": widgets.IntSlider(value=3, min=1, max=9)})
    assert explorer.status.value == "w = 1.00, n = 3 | twice w = 2.00"
    explorer.controls["w"].value = 3.5
    assert explorer.status.value == "w = 3.50, n = 3 | twice w = 7.00"
    assert drawn == [(1.0, 3), (3.5, 3)]
    assert {"bp-widget"} <= set(explorer._dom_classes) and "bp-status" in explorer.status._dom_classes


def test_a_failing_draw_leaves_the_status_as_it_was():
    def draw(fig, w):
        if w > 2:
            raise ValueError("too big")
        return "ok"

    explorer = Explorer(draw, {"w": widgets.FloatSlider(value=1.0, max=4)})
    with pytest.raises(ValueError):
        explorer.controls["w"].value = 3.0
    assert explorer.status.value.endswith("| ok") and explorer.status.value.startswith("w = 1.0")


def test_learner_or_reference_uses_the_learners_function_once_written():
    def yours(x):
        return x + 1

    chooser = learner_or_reference(yours, lambda x: x + 2, "f")
    assert chooser(1) == 2 and "your f" in chooser.note


def test_learner_or_reference_falls_back_and_says_so():
    def unwritten(x):
        raise NotImplementedError()

    chooser = learner_or_reference(unwritten, lambda x: x + 2, "dense_backward")
    assert chooser(1) == 3 and chooser.using_reference
    assert "reference dense_backward" in chooser.note and "write yours" in chooser.note


def test_a_learner_bug_is_reported_in_one_line_and_the_reference_goes_on(capsys):
    def buggy(x):
        return x[5]

    chooser = learner_or_reference(buggy, lambda x: x, "f")
    assert chooser([1]) == [1] and chooser([2]) == [2] and chooser.using_reference
    said = capsys.readouterr().out
    assert said == "f: yours raised IndexError: list index out of range; the reference f is used instead\n"
    assert chooser.note == "using the reference f: yours raised IndexError"


@pytest.mark.parametrize("yours, why", [
    (lambda x: (np.zeros((3, 1)), {"W": x.sum()}), "an array of shape (3, 1) (output 1 of 2) where (4, 2) was expected"),
    (lambda x: (x.astype(int), {"W": x.sum()}), "an array of dtype int64 (output 1 of 2) where float64 was expected"),
    (lambda x: (2 * x, {"b": x.sum()}), "a dict (output 2 of 2) where a dict with keys ['W'] was expected"),
    (lambda x: 2 * x, "an array of shape (4, 2) and dtype float64 where 2 outputs were expected"),
    (lambda x: None, "None where 2 outputs were expected"),
])
def test_an_output_the_reference_could_not_give_is_named_and_replaced(yours, why, capsys):
    def reference(x):
        return 2 * x, {"W": x.sum()}

    chooser = learner_or_reference(yours, reference, "g")
    x = np.ones((4, 2))
    out, grads = chooser(x)
    assert np.array_equal(out, 2 * x) and grads == {"W": 8.0}
    assert capsys.readouterr().out == f"g: yours returned {why}; the reference g is used instead\n"


def test_a_right_output_is_compared_once_per_shape_and_the_reference_never_touches_the_inputs():
    calls = []

    def reference(w, state):
        calls.append(w.shape)
        state["steps"] += 1  # an optimiser's state, changed in place
        return w - 1

    chooser = learner_or_reference(lambda w, state: w - 1, reference, "step")
    state = {"steps": 0}
    for _ in range(3):
        chooser(np.ones(3), state)
    chooser(np.ones(4), state)
    assert calls == [(3,), (4,)] and state == {"steps": 0} and not chooser.using_reference


def test_autograding_follows_nbgrader(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not autograding()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert autograding()
