"""Grading checks: a learner's gradient against float64 central differences, with named mistakes.

    from backprop_ref.grading import check
    check("dense_backward", dense_backward)            # visible check, in the notebook
    check("dense_backward", dense_backward, hidden=True, part="dW")   # nbgrader's hidden test

``backprop-course exercises`` lists every exercise with its signature and points.
"""
import sys
import types

from .._guard import DelegationError
from ._pristine import take_snapshot
from .core import Exercise, GradingTimeout, Part, Result
from .grade import check, grade, visible_seed
from .registry import EXERCISES, get_exercise, list_exercises

take_snapshot()  # numpy, builtins and backprop_ref as they are now, before any answer cell runs

__all__ = ["check", "grade", "EXERCISES", "get_exercise", "list_exercises", "Result", "Exercise", "Part",
           "DelegationError", "GradingTimeout", "visible_seed"]


class _Sealed(types.ModuleType):
    """Rebinding the grader's names from a notebook (``grading.check = ...``) is refused."""

    def __setattr__(self, name, value):
        if name in __all__:
            raise AttributeError(f"backprop_ref.grading.{name} cannot be replaced")
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Sealed
