"""What every lesson widget shares: a figure redrawn from controls, a status line, grading mode."""
import os

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


def autograding():
    """True while nbgrader runs the notebook (autograde or validate): train briefly, skip animations."""
    return "NBGRADER_EXECUTION" in os.environ


def in_grading_sandbox():
    """True in the grader's sandbox (backprop_ref.sandbox), where no one sees a widget: none is drawn."""
    return "BACKPROP_SANDBOX" in os.environ


class Explorer(widgets.VBox):
    """Controls above a figure that ``draw(fig, **values)`` redraws whenever a control changes.

    controls: {name: widget with a .value}; draw gets each value under its name and returns what
    it drew, in numbers (e.g. "E = 0.81, slope = -1.2"). The status line shows the controls' values
    as their readouts show them, then that text: "w = 3.50 | E = 0.81, slope = -1.2". It is set after
    the figure, so once it shows a value, the figure for that value is on screen.
    """

    def __init__(self, draw, controls, figsize=(9, 3.6), css_class=None):
        self.draw = draw
        self.controls = dict(controls)
        self.plot = widgets.Output()
        self.plot.add_class("bp-plot")
        self.status = widgets.HTML()
        self.status.add_class("bp-status")
        self.figsize = figsize
        super().__init__([widgets.HBox(list(self.controls.values())), self.plot, self.status])
        self.add_class("bp-widget")
        if css_class:
            self.add_class(css_class)
        for control in self.controls.values():
            control.observe(self.update, names="value")
        if not in_grading_sandbox():
            self.update()

    def values(self):
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change=None):
        fig = plt.figure(figsize=self.figsize)
        try:
            text = self.draw(fig, **self.values())
            with self.plot:
                self.plot.clear_output(wait=True)
                display(fig)
        finally:
            plt.close(fig)
        self.status.value = f"{self.settings()} | {text}"

    def settings(self):
        """The controls' values, formatted as their readouts show them: "w = 3.50, lr = 0.10"."""
        return ", ".join(f"{name} = {_readout(control)}" for name, control in self.controls.items())


def _readout(control):
    fmt = getattr(control, "readout_format", None)
    if fmt and fmt.startswith(".") and fmt.endswith("g"):
        fmt = "#" + fmt  # the browser's readout (d3-format) keeps trailing zeros: 10.0, not 10
    if fmt and isinstance(control.value, (int, float)) and not isinstance(control.value, bool):
        return format(control.value, fmt)
    return str(control.value)


class learner_or_reference:
    """Call the learner's function; if it raises NotImplementedError, use the reference from then on.

    Widgets that drive the learner's code wrap it with this, so that "Run All" on a fresh notebook
    still shows the idea (with the reference), and ``note`` says which one is at work.
    """

    def __init__(self, yours, reference, name):
        self.yours, self.reference, self.name = yours, reference, name
        self.using_reference = False

    def __call__(self, *args, **kwargs):
        if not self.using_reference:
            try:
                return self.yours(*args, **kwargs)
            except NotImplementedError:
                self.using_reference = True
        return self.reference(*args, **kwargs)

    @property
    def note(self):
        if self.using_reference:
            return f"using the reference {self.name}: write yours above, then re-run this cell to see your own at work"
        return f"using your {self.name}"
