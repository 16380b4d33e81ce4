"""check(): grade a learner's implementation of one exercise, and say how it went."""
import secrets
import zlib

import numpy as np

from ._pristine import pristine
from .core import PartResult, Result, _describe_failure, _judge_case, run_learner
from .registry import get_exercise


def visible_seed(exercise_id):
    """The fixed seed of an exercise's visible check (the hidden check draws a fresh one)."""
    return zlib.crc32(exercise_id.encode())


def grade(exercise_id, implementation, part=None, hidden=False, seed=None):
    """Run the check and return a Result, never raising for a wrong answer."""
    with pristine():
        return _grade(get_exercise(exercise_id), implementation, part, hidden, seed)


def _grade(exercise, implementation, part, hidden, seed):
    if not callable(implementation):
        raise TypeError(f"check({exercise.id!r}, ...) needs your function, got {type(implementation).__name__}")
    if exercise.adapt is not None:
        implementation = exercise.adapt(implementation)
    parts = exercise.parts
    if part is not None:
        parts = tuple(p for p in exercise.parts if p.name == part)
        if not parts:
            raise ValueError(f"{exercise.id} has no part {part!r}; its parts are {[p.name for p in exercise.parts]}")
    if seed is None:
        seed = secrets.randbits(63) if hidden else visible_seed(exercise.id)
    rng = np.random.default_rng(seed)
    results = {p.name: PartResult(p.name, p.points, True, []) for p in parts}
    labels = []
    for dims in exercise.hidden_dims(rng) if hidden else exercise.visible_dims:
        if not any(r.passed for r in results.values()):
            break  # every part has failed: more cases cannot change the score
        case = exercise.make_case(rng, dims)
        labels.append(case.label)
        yours, problem = run_learner(exercise, implementation, case)
        if problem:
            for r in results.values():
                if r.passed:
                    r.passed, r.message = False, problem
            break
        needed = {name for p in parts if results[p.name].passed for name in p.outputs}
        verdicts = _judge_case(exercise, case, yours, rng, needed)
        for p in parts:
            r = results[p.name]
            if not r.passed:
                continue
            mine = [verdicts[name] for name in p.outputs]
            r.outputs = _worst(r.outputs, mine)
            if not all(v.passed for v in mine):
                r.passed = False
                r.outputs = mine
                r.message = _describe_failure(exercise, case, mine, yours)
    return Result(exercise.id, list(results.values()), seed, hidden, labels)


def _worst(before, now):
    """Keep, per output, the verdict with the larger error across cases."""
    if not before:
        return now
    return [b if b.max_rel_error >= n.max_rel_error else n for b, n in zip(before, now)]


class CheckFailed(AssertionError):
    """A check that did not pass, carrying its report. A notebook shows the report alone, not a traceback
    into the grader (IPython asks an exception for ``_render_traceback_``); nbgrader scores the cell 0."""

    def _render_traceback_(self):
        return [f"{type(self).__name__}:", *str(self).strip("\n").splitlines()]


def check(exercise_id, implementation, part=None, hidden=False, seed=None, raises=True):
    """Grade ``implementation`` for ``exercise_id`` and report.

    The verdict compares your function's outputs with float64 central differences of the
    reference forward pass (gradients) or with the reference (update rules), on inputs drawn
    at grading time: a fixed seed for the visible check, a fresh one for the hidden check.
    part: grade one part only (nbgrader gives each part its own test cell and points).
    With raises=True (as in notebooks) a pass prints the report and a failure raises CheckFailed (an
    AssertionError) carrying it, so that nbgrader scores it; nothing is returned, so a notebook shows the
    report alone. With raises=False the Result is returned and nothing printed.
    """
    result = grade(exercise_id, implementation, part=part, hidden=hidden, seed=seed)
    if not raises:
        return result
    if not result.passed:
        raise CheckFailed("\n" + str(result))
    print(result)
