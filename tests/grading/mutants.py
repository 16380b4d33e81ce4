"""Helpers for the mutation suites: a wrong implementation must fail, a correct one must pass."""
from backprop_ref.grading import grade


def assert_fails(exercise_id, implementation, mistake=None, seeds=(None,)):
    """Fails on the visible check and on hidden checks; with ``mistake``, the report names it."""
    for hidden, seed in [(False, None)] + [(True, s) for s in seeds]:
        result = grade(exercise_id, implementation, hidden=hidden, seed=seed)
        assert not result.passed, f"a wrong {exercise_id} passed the {'hidden' if hidden else 'visible'} check:\n{result}"
        if mistake is not None:
            assert mistake in str(result), f"expected the report to name {mistake!r}:\n{result}"


def assert_passes(exercise_id, implementation, seeds=(None,)):
    for hidden, seed in [(False, None)] + [(True, s) for s in seeds]:
        result = grade(exercise_id, implementation, hidden=hidden, seed=seed)
        assert result.passed and result.score == result.max_score, f"a correct {exercise_id} failed:\n{result}"
