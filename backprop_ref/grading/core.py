"""The grading engine: run a learner's function on fresh cases, compare, explain.

An Exercise says what to call and how to build a Case (inputs drawn at grading time). A Case
holds, for each output the learner returns, a Target:

- ``Gradient(f, x)``: the output must be the gradient of the scalar f() with respect to the array
  x. The truth is float64 central differences of the reference *forward* pass; the learner's
  analytic gradient is compared with it. Up to COORDINATE_LIMIT entries, every coordinate is
  differenced. Above it, a directional check: for DIRECTIONS random unit directions v,
  (f(x + h v) - f(x - h v)) / 2h must equal <gradient, v>, two forward passes each.
  Detection guarantee: if the learner's gradient differs from the truth by an error e, then
  <e, v> for a uniformly random unit v in R^P has spread |e| / sqrt(P), and the chance that it
  stays below the tolerance tau in all k directions is at most (sqrt(2P / pi) * tau / |e|)^k;
  for the errors learners make (|e| comparable to |gradient|) and k = 4 that is below 1e-12.
  When a directional check fails, sampled coordinates are differenced to locate the error.
- ``Value(array)``: the output must equal a reference value (update rules, forward passes).
  ``Value(array, base=w)`` compares the change from ``base`` instead (an update rule's step, new w - w):
  a step 1% too long is then 1% off, however large w is.
- ``AtLeast(score, threshold, what)``: the output is judged by a number computed from it,
  ``score(output)`` (a held-out accuracy), which must reach ``threshold``; there is no single right
  answer to compare with. Two parts can set two bars on the same output: the learner's function
  returns it under two names (see ``Exercise.adapt``), one per part. The report states the score
  reached and the bar, failed or passed.
- ``Raises(expected, why)``: the call must raise (expected=True) or return (False), ``why`` says what about
  the case decides it. run_learner reports any exception as a failure of every part, so the exercise's
  adapt catches the errors its contract names and returns, under this output, RAISED where the function
  raised one and RETURNED where it returned.

A case may leave an output out of its targets (there is no fixed point to compare where the call must raise):
the parts grading that output are judged on the other cases.

A part (of the exercise's points) passes when every output it grades matches on every case, and the
function left its inputs as they were (a contract of every exercise: inputs come back unchanged).
When a part fails, the learner's output is compared with known wrong answers (Mistakes) and
the message names the likely cause.
"""
import contextlib
import contextvars
import math
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .._guard import DelegationError, _learner_code_running
from .._tracebacks import learner_location
from ..backend import get_backend, to_host
from ..engine import Node
from ..sandbox.wire import graph_nodes

# private references: a learner rebinding numpy's names later changes none of these
_asarray, _abs, _max, _argmax, _unravel, _isfinite = np.asarray, np.abs, np.max, np.argmax, np.unravel_index, np.isfinite
_float64, _sqrt, _dot, _isclose, _isnan = np.float64, math.sqrt, np.dot, np.isclose, np.isnan

COORDINATE_LIMIT = 400
DIRECTIONS = 4
RTOL = 1e-4  # relative tolerance of a verdict
ATOL = 1e-6  # ... and absolute, as a fraction of the largest expected entry
STEP = 1e-6  # central-difference step


class GradingTimeout(BaseException):
    """A learner's function ran longer than the time a check allows it.

    A BaseException, like KeyboardInterrupt, so that a learner's `except Exception:` does not swallow it."""


class WrongReturn(Exception):
    """What a learner's function returned cannot be graded, and the message says why (an adapter's words:
    "grads[1] has shape ..."). Raised, it fails every output; returned in place of one output, that output
    fails and the others are still graded."""


class LearnerProcessEnded(Exception):
    """The process running the learner's code (the grader's sandbox) ended while it ran: os._exit, a signal,
    running out of memory or CPU time. The message says what is known, e.g. "ended the process (exit status 3)"."""


# ---------------------------------------------------------------------------------------------
# What an exercise is made of.


@dataclass(frozen=True)
class Part:
    """A graded part: its name, its points, and the outputs it grades."""

    name: str
    points: float
    outputs: tuple


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: ``wrong(case)`` returns {output name: the array that mistake gives}."""

    message: str
    wrong: object


@dataclass(frozen=True)
class Exercise:
    id: str
    signature: str  # how the learner's function is called, e.g. "dense_backward(dout, cache) -> (dx, dW)"
    lesson: str
    outputs: tuple  # names of the returned values, in order; one name = a single returned array
    parts: tuple
    make_case: object  # (rng, dims) -> Case
    visible_dims: tuple  # dims dicts of the visible check
    hidden_dims: object  # rng -> list of dims dicts (awkward shapes and random ones)
    mistakes: tuple = ()
    shape_names: dict = field(default_factory=dict)  # output -> "(D + 1, M)", for messages
    timeout: float = 10.0
    adapt: object = None  # implementation -> the function the engine calls (e.g. stack a list of grads)
    locate: object = None  # (output, index, case) -> where that entry is, in words ("the node tanh = 0.52")

    @property
    def points(self):
        return sum(p.points for p in self.parts)

    @property
    def inputs(self):
        """The names of the learner function's arguments, from the signature: ("dout", "cache")."""
        inside = self.signature.split("(", 1)[1].split(")", 1)[0]
        return tuple(name.strip() for name in inside.split(",") if name.strip())


@dataclass
class Gradient:
    f: object  # () -> float, reads x (perturbed in place)
    x: object  # float64 array


@dataclass
class Value:
    expected: object
    base: object = None  # compare yours - base with expected - base (an update rule's step)
    within: float = None  # and no entry further than this from expected (a precision the inputs ask for)
    within_why: str = ""  # for messages: "the precision tol = 1e-09 asks for"


@dataclass
class AtLeast:
    score: object  # output (float64 array) -> float, e.g. the fraction of labels right
    threshold: float
    what: str = "the score"  # for messages: "held-out accuracy"
    fmt: str = "{:.4g}"  # how the score and the threshold are written: "{:.1%}"


RAISED, RETURNED = 1.0, 0.0  # what an adapt returns under a Raises output


@dataclass
class Raises:
    expected: bool  # True: the call must raise; False: it must return
    why: str  # for messages: "W has spectral norm 2.5: the state oscillates and never settles"


@dataclass
class Case:
    args: tuple  # what the learner's function is called with (copied for each call)
    targets: dict  # output name -> Gradient, Value or AtLeast
    reference: dict  # output name -> the reference answer (shapes, mistakes, locating errors)
    label: str  # the shapes, for messages, e.g. "N=1, D=3, M=2"
    data: dict = field(default_factory=dict)  # anything a Mistake needs


# ---------------------------------------------------------------------------------------------
# Verdicts.


@dataclass
class OutputVerdict:
    name: str
    passed: bool
    max_rel_error: float = 0.0
    worst_index: tuple = ()
    yours: float = float("nan")
    expected: float = float("nan")
    problem: str = ""  # set when it could not be compared (shape, dtype, NaN)
    source: str = "the reference value"  # what the expected value is
    quantity: str = ""  # what was compared, when not the output itself: "step (new w - w)"
    note: str = ""  # an AtLeast verdict in words: the score reached and the bar


def _compare_arrays(name, yours, expected, scale=None):
    """Entries off by more than RTOL relative and ATOL times ``scale`` (default: the largest expected entry)."""
    scale = float(_max(_abs(expected), initial=0.0)) if scale is None else scale
    diff = _abs(yours - expected)
    rel = diff / (_abs(yours) + _abs(expected) + 1e-300)
    bad = (diff > ATOL * scale + 1e-12) & (rel > RTOL)
    if yours.size == 0:
        return OutputVerdict(name, True)
    worst = _unravel(int(_argmax(diff)), yours.shape)
    counted = _abs(expected) + _abs(yours) > ATOL * scale + 1e-12
    return OutputVerdict(
        name,
        passed=not bool(bad.any()),
        max_rel_error=float(_max(rel * counted, initial=0.0)),
        worst_index=tuple(int(i) for i in worst),
        yours=float(yours[worst]),
        expected=float(expected[worst]),
    )


def _central_difference(f, x, direction):
    """(f(x + h d) - f(x - h d)) / 2h, restoring x."""
    original = x.copy()
    x += STEP * direction
    plus = float(f())
    x[...] = original
    x -= STEP * direction
    minus = float(f())
    x[...] = original
    return (plus - minus) / (2 * STEP)


def _coordinate_gradient(f, x, indices):
    grad = np.zeros(len(indices))
    for k, i in enumerate(indices):
        e = np.zeros(x.shape)
        e[i] = 1.0
        grad[k] = _central_difference(f, x, e)
    return grad


def _judge_gradient(name, yours, target, rng, reference=None):
    x = target.x
    if x.size <= COORDINATE_LIMIT:
        indices = list(np.ndindex(*x.shape))
        numeric = _coordinate_gradient(target.f, x, indices).reshape(x.shape)
        verdict = _compare_arrays(name, yours, numeric)
        verdict.source = "the central difference"
        return verdict
    for _ in range(DIRECTIONS):
        v = rng.normal(size=x.shape)
        v /= _sqrt(float((v * v).sum()))
        numeric = _central_difference(target.f, x, v)
        analytic = float((yours * v).sum())
        scale = _sqrt(float((yours * yours).sum()) / x.size) + 1e-12
        if abs(analytic - numeric) > RTOL * (abs(analytic) + abs(numeric)) + ATOL * scale:
            break
    else:
        return OutputVerdict(name, True)
    # locate: difference the coordinates where yours is farthest from the reference answer or largest,
    # and some at random (the verdict above did not use the reference; this only picks where to look)
    suspects = _abs(yours - reference) if reference is not None else _abs(yours)
    flat = np.argsort(-suspects.ravel())[:16].tolist() + np.argsort(-_abs(yours).ravel())[:8].tolist()
    flat += rng.choice(x.size, size=min(40, x.size), replace=False).tolist()
    indices = [np.unravel_index(i, x.shape) for i in dict.fromkeys(flat)]
    numeric = _coordinate_gradient(target.f, x, indices)
    picked = np.array([yours[i] for i in indices])
    verdict = _compare_arrays(name, picked, numeric)
    verdict.passed, verdict.source = False, "the central difference"
    if verdict.worst_index:
        verdict.worst_index = tuple(int(j) for j in indices[verdict.worst_index[0]])
    return verdict


def _judge_score(name, yours, target, case):
    value = float(target.score(yours))
    passed = value >= target.threshold
    reached, bar = target.fmt.format(value), target.fmt.format(target.threshold)
    if passed:
        note = f"{target.what} {reached}, at least {bar} needed"
    else:
        note = f"{target.what} is {reached} ({case.label}): {name} needs at least {bar}"
    return OutputVerdict(name, passed, note=note, yours=value, expected=target.threshold, source="the threshold")


def type_name(value):
    """The name of a value's type, for messages; a value the sandbox could only describe keeps its own type's name."""
    return getattr(value, "type_name", None) or type(value).__name__


def _as_float_array(value):
    host = to_host(value)
    if not hasattr(host, "shape") and not isinstance(host, (int, float)):
        return None
    array = _asarray(host)
    if array.dtype.kind not in "fiu":
        return None
    return array.astype(_float64)


# ---------------------------------------------------------------------------------------------
# Running the learner's code.


_deadline = contextvars.ContextVar("learner_deadline", default=None)
_elsewhere = contextvars.ContextVar("learner_code_elsewhere", default=False)


def learner_deadline():
    """When the learner's code that a check is running must be done (a time.monotonic() value), or None."""
    return _deadline.get()


@contextlib.contextmanager
def learner_code_elsewhere():
    """Within the block, the learner's functions run in another process (the grader's sandbox), which
    keeps to learner_deadline() itself: no SIGALRM here, where only the grader's code runs."""
    token = _elsewhere.set(True)
    try:
        yield
    finally:
        _elsewhere.reset(token)


class _time_limit:
    """``seconds`` for the learner's code: a deadline, and, when that code runs in this process, GradingTimeout
    raised in it by SIGALRM when the time is up (main thread on Unix only)."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.active = (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
                       and not _elsewhere.get())

    def _expire(self, signum, frame):
        raise GradingTimeout()

    def __enter__(self):
        self.token = _deadline.set(time.monotonic() + self.seconds)
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds, 0.25)  # and again every 0.25 s if caught

    def __exit__(self, *exc):
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)
        _deadline.reset(self.token)


def _copy_args(args):
    """A fresh copy of the inputs for each call, on the learner's device (see backend.use)."""
    device = get_backend()
    return tuple(_copy(a, device) for a in args)


def _copy(a, device):
    if isinstance(a, Node):
        return _copy_graph(a)
    if isinstance(a, np.ndarray) and device is not np:
        return device.asarray(a)
    if hasattr(a, "copy") and hasattr(a, "shape"):
        return a.copy()
    if isinstance(a, (list, tuple)):
        return type(a)(_copy(v, device) for v in a)
    if isinstance(a, dict):
        return {k: _copy(v, device) for k, v in a.items()}
    return a


def _copy_graph(root):
    """A fresh copy of an engine graph, every node once (shared nodes stay shared), grads included."""
    nodes = graph_nodes(root)
    copies = {}
    for node in reversed(nodes):  # no recursion: a deep chain is no problem
        copy = copies[id(node)] = Node(node.value, op=node.op)
        copy.grad = node.grad
    for node in nodes:
        copy = copies[id(node)]
        copy.parents, copy.local_grads = tuple(copies[id(p)] for p in node.parents), tuple(node.local_grads)
    return copies[id(root)]


def run_learner(exercise, implementation, case):
    """Call the learner's function on a copy of the case's inputs -> ({output: float64 array}, problem)."""
    args = _copy_args(case.args)
    _learner_code_running[0] += 1
    try:
        with _time_limit(exercise.timeout):
            returned = implementation(*args)
    except GradingTimeout:
        return None, (
            f"{exercise.id} did not finish within {exercise.timeout:g} s on inputs with {case.label}; "
            f"look for a loop that never ends, or Python loops over every entry where one array operation would do"
        )
    except NotImplementedError:
        return None, f"{exercise.id} is not written yet: replace `raise NotImplementedError` with your code"
    except (DelegationError, WrongReturn) as e:
        return None, str(e)
    except LearnerProcessEnded as e:
        return None, f"{exercise.id} {e}, on inputs with {case.label}"
    except Exception as e:  # the learner's code raised: say what, and where (a sandbox says where itself)
        where = getattr(e, "where", None)
        where = learner_location(e) if where is None else where
        return None, f"{exercise.id} raised {type(e).__name__}: {e}{where} on inputs with {case.label}"
    finally:
        _learner_code_running[0] -= 1
    changed = changed_inputs(exercise.inputs, case.args, args)
    if changed:
        return None, (
            f"{exercise.id} changed {' and '.join(changed)} in place (on inputs with {case.label}): inputs must come "
            f"back as they were, because the caller still uses them. Compute new arrays (w = w - lr * dw, or start "
            f"from a copy, w = w.copy()) rather than writing into an input (w -= ..., w[i] = ...), and put back "
            f"anything you move for a moment (old = x[i]; ...; x[i] = old)"
        )
    return _unpack(exercise, returned, case)


def changed_inputs(names, before, after):
    """The inputs (by name, "cache[0]" for a part) that differ in ``after``, the copies a call was given, from
    ``before``; floats compared to rounding (x[i] += h, then -= h, may leave the last bit changed)."""
    names = list(names)[:len(before)] + [f"argument {k + 1}" for k in range(len(names), len(before))]
    return [path for name, b, a in zip(names, before, after) for path in _changed(name, b, a)]


def _changed(path, before, after):
    if isinstance(before, np.ndarray):
        after = _asarray(to_host(after))
        if after.shape != before.shape:
            return [path]
        if before.dtype.kind not in "fc":
            return [] if bool((after == before).all()) else [path]
        scale = float(_max(_abs(before), initial=0.0, where=_isfinite(before)))  # NaN in an input: no NaN tolerance
        return [] if bool(_isclose(after, before, rtol=1e-12, atol=1e-12 * scale, equal_nan=True).all()) else [path]
    if isinstance(before, (list, tuple)):
        if not isinstance(after, (list, tuple)) or len(after) != len(before):
            return [path]
        return [p for k, (b, a) in enumerate(zip(before, after)) for p in _changed(f"{path}[{k}]", b, a)]
    if isinstance(before, dict):
        if not isinstance(after, dict) or after.keys() != before.keys():
            return [path]
        return [p for k in before for p in _changed(f"{path}[{k!r}]", before[k], after[k])]
    if isinstance(before, Node):  # a graph: its grads are the output, the rest must stay as it was
        return [] if isinstance(after, Node) and _same_graph(before, after) else [
            f"{path} (a node's value, parents or local_grads: only .grad is yours to set)"]
    return []  # numbers, functions: nothing a call can change


def _same_graph(before, after):
    try:
        return _same_nodes(graph_nodes(before), graph_nodes(after))
    except Exception:  # what the learner's code left there is not even a graph's worth of numbers
        return False


def _same_nodes(mine, theirs):
    if len(mine) != len(theirs):
        return False
    where_mine, where_theirs = {id(n): i for i, n in enumerate(mine)}, {id(n): i for i, n in enumerate(theirs)}
    for b, a in zip(mine, theirs):
        numbers = (b.value, *b.local_grads), (a.value, *a.local_grads)
        if (b.op != a.op or [where_mine[id(p)] for p in b.parents] != [where_theirs[id(p)] for p in a.parents]
                or len(numbers[0]) != len(numbers[1])
                or not all(isinstance(y, (int, float)) and _isclose(x, y, rtol=1e-12, atol=1e-300, equal_nan=True)
                           for x, y in zip(*numbers))):
            return False
    return True


def _unpack(exercise, returned, case):
    """{output name: float64 array, or a WrongReturn saying why that output cannot be graded}, problem."""
    names = exercise.outputs
    if len(names) == 1:
        returned = (returned,)
    elif returned is None:
        return None, f"{exercise.id} returned None: did you forget `return {', '.join(names)}`?"
    elif not isinstance(returned, (tuple, list)) or len(returned) != len(names):
        got = f"{len(returned)} values" if isinstance(returned, (tuple, list)) else f"one {type_name(returned)}"
        return None, f"{exercise.id} must return {len(names)} values ({', '.join(names)}); yours returned {got}"
    outputs = {}
    for name, value in zip(names, returned):
        if isinstance(value, WrongReturn):
            outputs[name] = value
        elif value is None:
            outputs[name] = WrongReturn(f"{exercise.id} returned None for {name}: did you forget `return`?")
        else:
            array = _as_float_array(value)
            outputs[name] = WrongReturn(f"{exercise.id}: {name} must be an array of numbers, got {type_name(value)}") \
                if array is None else array
    return outputs, ""


# ---------------------------------------------------------------------------------------------
# One check.


@dataclass
class PartResult:
    name: str
    points: float
    passed: bool
    outputs: list  # OutputVerdicts of the first case where the part failed (or of the last case)
    message: str = ""

    @property
    def earned(self):
        return self.points if self.passed else 0.0


@dataclass
class Result:
    exercise: str
    parts: list
    seed: int
    hidden: bool
    cases: list  # the labels of the cases tried

    @property
    def passed(self):
        return all(p.passed for p in self.parts)

    @property
    def score(self):
        return sum(p.earned for p in self.parts)

    @property
    def max_score(self):
        return sum(p.points for p in self.parts)

    @property
    def max_rel_error(self):
        """{output: the largest relative error seen}."""
        return {v.name: v.max_rel_error for p in self.parts for v in p.outputs}

    @property
    def message(self):
        return str(self)

    def __repr__(self):  # short: a notebook shows it under the report that check() printed
        kind = "hidden" if self.hidden else "visible"
        return f"<Result {self.exercise}: {self.score:g}/{self.max_score:g} points, {kind} check>"

    def __str__(self):
        kind = "hidden" if self.hidden else "visible"
        head = f"{self.exercise}: {sum(p.passed for p in self.parts)} of {len(self.parts)} parts passed"
        cases = f"{len(self.cases)} case" + ("" if len(self.cases) == 1 else "s")
        lines = [f"{head} ({self.score:g}/{self.max_score:g} points, {kind} check, {cases})"]
        said = set()
        for p in self.parts:
            mark = "PASS" if p.passed else "FAIL"
            errors = ", ".join(f"{v.name} {v.max_rel_error:.1e}" for v in p.outputs if not v.problem and not v.note)
            notes = "; ".join(v.note for v in p.outputs if v.note)
            lines.append(f"  {mark} {p.name}" + (f" (max relative error: {errors})" if p.passed and errors else "")
                         + (f" ({notes})" if p.passed and notes else ""))
            if p.message and p.message in said:
                lines.append("       (the same as above)")
            elif p.message:
                lines.extend("       " + line for line in p.message.splitlines())
                said.add(p.message)
        return "\n".join(lines)


def _describe_failure(exercise, case, verdicts, yours):
    """A learner-facing explanation of why outputs failed on a case, naming a known mistake if one fits."""
    lines = []
    for v in verdicts:
        if v.passed:
            continue
        if v.problem or v.note:
            lines.append(v.problem or v.note)
        else:
            what = f"your {v.quantity}" if v.quantity else "yours"
            where = exercise.locate(v.name, v.worst_index, case) if exercise.locate else v.worst_index
            lines.append(
                f"{v.name} is wrong on inputs with {case.label}: at {where} {what} is {v.yours:.6g}, "
                f"{v.source} is {v.expected:.6g} (max relative error {v.max_rel_error:.1e})"
            )
    cause = _recognise_mistake(exercise, case, yours, [v.name for v in verdicts if not v.passed])
    if cause:
        lines.append("Likely cause: " + cause)
    return "\n".join(lines)


def _recognise_mistake(exercise, case, yours, failed):
    for mistake in exercise.mistakes:
        try:
            wrong = mistake.wrong(case)
        except Exception:  # a fingerprint that does not apply to this case
            continue
        relevant = [n for n in failed if n in wrong and isinstance(yours.get(n), np.ndarray)]
        if relevant and all(_same(*_steps(case, n, yours[n], wrong[n])) for n in relevant):
            return mistake.message
    return ""


def _steps(case, name, yours, wrong):
    """The two answers as compared: for a target judged by its step, their steps from its base."""
    target = case.targets.get(name)
    if isinstance(target, Value) and target.base is not None:
        base = _asarray(to_host(target.base), dtype=_float64)
        return yours - base, _asarray(to_host(wrong), dtype=_float64) - base
    return yours, wrong


def _same(a, b):
    """Whether two answers agree (a mistake's fingerprint); NaN where both are NaN counts as agreeing."""
    b = _asarray(to_host(b), dtype=_float64)
    if a.shape != b.shape:
        return False
    both_nan = _isnan(a) & _isnan(b)
    scale = float(_max(_abs(b[~both_nan]), initial=0.0))
    with np.errstate(invalid="ignore"):
        close = (_abs(a - b) <= 1e-6 * scale + 1e-12) | (_abs(a - b) <= 1e-5 * (_abs(a) + _abs(b)))
    return bool((close | both_nan).all())


def _judge_case(exercise, case, yours, rng, needed=None):
    """Verdicts for the outputs in ``needed`` (default all; the grader passes those of parts not failed yet)."""
    verdicts = {}
    for name, target in case.targets.items():
        if needed is not None and name not in needed:
            continue
        expected_shape = tuple(to_host(case.reference[name]).shape) if name in case.reference else None
        got = yours[name]
        if isinstance(got, WrongReturn):
            verdicts[name] = OutputVerdict(name, False, problem=str(got))
        elif isinstance(target, Raises):
            verdicts[name] = _judge_raise(exercise, name, got, target, case)
        elif expected_shape is not None and tuple(got.shape) != expected_shape:
            hint = exercise.shape_names.get(name, "")
            verdicts[name] = OutputVerdict(
                name, False, problem=f"{name} has shape {tuple(got.shape)}, expected {expected_shape}"
                + (f" = {hint}" if hint else "") + f" on inputs with {case.label}"
            )
        elif not bool(_isfinite(got).all()):
            verdicts[name] = OutputVerdict(name, False, problem=f"{name} holds NaN or inf on inputs with {case.label}")
        elif isinstance(target, AtLeast):
            verdicts[name] = _judge_score(name, got, target, case)
        elif isinstance(target, Gradient):
            reference = _asarray(to_host(case.reference[name]), dtype=_float64) if name in case.reference else None
            verdicts[name] = _judge_gradient(name, got, target, rng, reference)
        elif target.base is not None:  # the step: off by RTOL of the step, or ATOL of the weights (float32 rounding)
            base, expected = _asarray(to_host(target.base), dtype=_float64), _asarray(to_host(target.expected), dtype=_float64)
            scale = float(_max(_abs(expected), initial=0.0))
            verdicts[name] = _compare_arrays(name, got - base, expected - base, scale)
            verdicts[name].source, verdicts[name].quantity = "the reference step", f"step (new {name} - {name})"
        else:
            expected = _asarray(to_host(target.expected), dtype=_float64)
            verdicts[name] = _compare_arrays(name, got, expected)
            off = float(_max(_abs(got - expected), initial=0.0))
            if verdicts[name].passed and target.within is not None and off > target.within:
                verdicts[name] = OutputVerdict(name, False, problem=(
                    f"{name} is off by up to {off:.2g} on inputs with {case.label}, more than {target.within:.2g}, "
                    f"{target.within_why or 'the precision asked for'}"))
    for name in exercise.outputs:  # not judged on this case: its parts are judged on the others
        if name not in case.targets and (needed is None or name in needed):
            verdicts[name] = OutputVerdict(name, True, source="not judged on this case")
    return verdicts


def _judge_raise(exercise, name, got, target, case):
    raised = got.shape == () and float(got) == RAISED
    if raised == target.expected:
        return OutputVerdict(name, True, note="raised or returned as it must", source="the contract")
    did, must = ("raised", "return") if raised else ("returned", "raise")
    return OutputVerdict(name, False, source="the contract",
                         problem=f"{exercise.id} {did} on inputs with {case.label}, where it must {must}: {target.why}")
