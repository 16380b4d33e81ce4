import ipywidgets as widgets
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


def test_learner_or_reference_does_not_hide_real_errors():
    def buggy(x):
        return x[5]

    with pytest.raises(IndexError):
        learner_or_reference(buggy, lambda x: x, "f")([1])


def test_autograding_follows_nbgrader(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert not autograding()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert autograding()
