"""Every graded exercise of the course, by id, in course order."""
from .exercises import basics, claims, classifier, engine, layers, optimisers, recurrent, relaxation, sequences

EXERCISES = {e.id: e for module in (basics, layers, optimisers, classifier, recurrent, sequences,
                                                  relaxation, engine, claims) for e in module.EXERCISES}


def get_exercise(exercise_id):
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise KeyError(f"no exercise {exercise_id!r}; the exercises are: {', '.join(EXERCISES)}") from None


def list_exercises():
    """One line per exercise: id, points, signature."""
    width = max(len(e.id) for e in EXERCISES.values())
    lines = [f"{'id':{width}s}  points  signature"]
    for e in EXERCISES.values():
        parts = ", ".join(f"{p.name} {p.points:g}" for p in e.parts)
        lines.append(f"{e.id:{width}s}  {e.points:6g}  {e.signature}   [{parts}]")
    total = sum(e.points for e in EXERCISES.values())
    lines.append(f"{len(EXERCISES)} exercises, {total:g} points")
    return "\n".join(lines)
