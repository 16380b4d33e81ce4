"""Answer keys: reference functions a learner must write, not call, while their code is graded.

A function marked ``@answer_key`` raises DelegationError while a grading check is running a
learner's implementation. The grader computes its own references with the flag down, and
outside checks (lessons, plots, training demos) the functions work as usual.
"""
import functools


class DelegationError(RuntimeError):
    """A learner's code called the course's reference answer instead of computing it."""


_learner_code_running = [0]  # > 0 while a check runs a learner's implementation


def answer_key(fn):
    name = fn.__qualname__  # "SGD.step" for a method

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        if _learner_code_running[0]:
            raise DelegationError(
                f"{name} is the course's reference answer: it is not available while your code is being "
                f"graded. Compute it with your own code (you may call your own earlier functions)."
            )
        return fn(*args, **kwargs)

    del guarded.__wrapped__  # no back door to the unguarded function
    return guarded
