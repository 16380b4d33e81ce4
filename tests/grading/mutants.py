"""Helpers for the mutation suites: a wrong implementation must fail, a correct one must pass.

A mutant is (implementation, what its report must name): a part of one Mistake's message, or of the engine's
own words for a broken contract ("in place"), or None (no cause named)."""
IN_PLACE = "in place (on inputs"  # the engine's words for a function that changed an input
import time

from backprop_ref.grading import get_exercise, grade


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


def naming_problem(exercise_id, text, mistake, exclusive=True):
    """'' when the report ``text`` names ``mistake`` (a part of one Mistake's message) and no other Mistake of
    the exercise, or, with mistake=None, names no cause at all; otherwise what is wrong."""
    messages = [m.message for m in get_exercise(exercise_id).mistakes]
    if mistake is None:
        return "a mistake with no fingerprint was given a cause" if "Likely cause" in text and exclusive else ""
    named = [m for m in messages if mistake in m]
    if mistake not in text:
        return f"expected the report to name {mistake!r}"
    if not named:  # the engine's own words (an input changed in place), not a Mistake's
        return "a cause was named as well" if "Likely cause" in text and exclusive else ""
    assert len(named) == 1 or not exclusive, f"{mistake!r} should be part of exactly one Mistake of {exercise_id}"
    others = [m for m in messages if m in text and mistake not in m]
    return f"the report also names {others}" if others and exclusive else ""


def assert_fails_naming(exercise_id, implementation, mistake, seeds=(None,)):
    """Fails the visible check and hidden ones, and the report names the mistake (see naming_problem)."""
    for hidden, seed in [(False, None)] + [(True, s) for s in seeds]:
        result = grade(exercise_id, implementation, hidden=hidden, seed=seed)
        assert not result.passed, f"a wrong {exercise_id} passed the {'hidden' if hidden else 'visible'} check:\n{result}"
        problem = naming_problem(exercise_id, str(result), mistake)
        assert not problem, f"{problem}:\n{result}"


def soak(exercise_id, mutants, correct, seeds=range(200), exclusive=True):
    """Every mutant and every correct variant on the hidden check of each seed: no mutant passes or is misnamed,
    no correct variant fails. Prints the counts."""
    t0 = time.perf_counter()
    caught = passed = misnamed = 0
    wrong = []
    for seed in seeds:
        for name, (impl, mistake) in mutants.items():
            result = grade(exercise_id, impl, hidden=True, seed=seed)
            if result.passed:
                wrong.append(f"mutant {name!r} passed seed {seed}")
                continue
            caught += 1
            problem = naming_problem(exercise_id, str(result), mistake, exclusive)
            if problem:
                misnamed += 1
                wrong.append(f"mutant {name!r} on seed {seed}: {problem}:\n{result}")
        for impl in correct:
            result = grade(exercise_id, impl, hidden=True, seed=seed)
            if result.passed:
                passed += 1
            else:
                wrong.append(f"correct {impl.__name__} failed seed {seed}:\n{result}")
    n = len(seeds)
    print(f"\n{exercise_id}: mutants caught {caught}/{len(mutants) * n} ({misnamed} misnamed), "
          f"correct passed {passed}/{len(correct) * n}, hidden seeds {seeds[0]}..{seeds[-1]}, {time.perf_counter() - t0:.1f} s")
    assert not wrong, "\n".join(wrong[:5]) + f"\n... {len(wrong)} wrong verdicts in all"
