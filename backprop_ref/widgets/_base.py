"""What every lesson widget shares: a figure redrawn from controls, a status line, grading mode."""
import copy
import numbers
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
    """Call the learner's function; once it fails, use the reference from then on, and say why.

    Widgets and demo cells that drive the learner's code wrap it with this, so that "Run All" always goes
    to the end and shows the idea: with the learner's function while it works, with the reference once it
    raises (NotImplementedError: not written yet; anything else: a bug) or returns what the reference's
    output could not be (another shape, a non-float dtype, another structure). A bug is reported in one
    line when it is found, and ``note`` (shown in titles and status lines) says which function is at work.
    """

    def __init__(self, yours, reference, name):
        self.yours, self.reference, self.name = yours, reference, name
        self.problem = None  # why the reference is at work: None while the learner's function is
        self._compared = set()  # argument signatures whose output was compared with the reference's

    @property
    def using_reference(self):
        return self.problem is not None

    def __call__(self, *args, **kwargs):
        if self.problem is None:
            try:
                yours = self.yours(*args, **kwargs)
            except NotImplementedError:
                self.problem = "not written yet"
            except Exception as e:  # a learner's bug must not stop the lesson
                message = (str(e).strip().splitlines() or [""])[0]
                self._give_up(f"raised {type(e).__name__}", f"raised {type(e).__name__}: {message[:160]}")
            else:
                signature = _signature(args, kwargs)
                if signature in self._compared:
                    return yours
                # the reference on copies: the learner's inputs (weights, optimiser state, RNGs) stay as they are
                expected = self.reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
                wrong = _mismatch(yours, expected)
                if wrong is None:
                    self._compared.add(signature)
                    return yours
                what, detail = wrong
                self._give_up(f"returned the wrong {what}", f"returned {detail}")
                return expected
        return self.reference(*args, **kwargs)

    def _give_up(self, short, detail):
        self.problem = short
        print(f"{self.name}: yours {detail}; the reference {self.name} is used instead")

    @property
    def note(self):
        if self.problem is None:
            return f"using your {self.name}"
        if self.problem == "not written yet":
            return f"using the reference {self.name}: write yours above, then re-run this cell to see your own at work"
        return f"using the reference {self.name}: yours {self.problem}"


def _signature(args, kwargs):
    """What an output's shape can depend on: each argument's type, and shape and dtype for arrays."""
    def of(value):
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return (type(value).__name__, tuple(value.shape), str(value.dtype))
        if isinstance(value, (list, tuple)):
            return (type(value).__name__, tuple(of(v) for v in value))
        return type(value).__name__
    return tuple(of(a) for a in args), tuple(sorted((k, of(v)) for k, v in kwargs.items()))


def _describe(value):
    if value is None:
        return "None"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    if _numbers(value):
        return f"a {type(value).__name__} of {len(value)} numbers"
    return f"a {type(value).__name__}"


def _numbers(value):
    """A flat list or tuple of numbers (a learner's loop builds them where the reference returns an array)."""
    return (isinstance(value, (list, tuple)) and len(value) > 0
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value))


def _shape(value):
    """The shape of an array, a number (()) or a flat list of numbers; None for anything else."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return tuple(value.shape)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return ()
    return (len(value),) if _numbers(value) else None


def _mismatch(yours, expected, where=""):
    """How ``yours`` cannot be what ``expected`` is: (what, in a word: "shape", "dtype" or "kind of output";
    the whole of it, for the learner), or None."""
    at = f" ({where})" if where else ""

    def kind(expectation):
        return "kind of output", f"{_describe(yours)}{at} where {expectation}"

    if expected is None:
        return None if yours is None else kind("nothing was expected")
    if _shape(expected) is not None:
        shape = _shape(yours)
        if shape is None:
            return kind(f"{_describe(expected)} was expected")
        if shape != _shape(expected):
            return "shape", f"an array of shape {shape}{at} where {_shape(expected)} was expected"
        dtype = getattr(expected, "dtype", None)
        if hasattr(yours, "dtype") and getattr(dtype, "kind", "f") in "fc" and yours.dtype.kind not in "fc":
            return "dtype", f"an array of dtype {yours.dtype}{at} where {dtype or 'float64'} was expected"
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(yours, (tuple, list)) or len(yours) != len(expected):
            return kind(f"{len(expected)} outputs were expected")
        return next((w for i, (y, e) in enumerate(zip(yours, expected))
                     if (w := _mismatch(y, e, f"output {i + 1} of {len(expected)}"))), None)
    if isinstance(expected, dict):
        if not isinstance(yours, dict) or set(yours) != set(expected):
            return kind(f"a dict with keys {sorted(expected)} was expected")
        return next((w for key in expected if (w := _mismatch(yours[key], expected[key], repr(key)))), None)
    if callable(expected):
        return None if callable(yours) else kind("a function was expected")
    return None if isinstance(yours, type(expected)) else kind(f"{_describe(expected)} was expected")
