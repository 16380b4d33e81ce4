"""Small helpers the exercise definitions share."""
import functools
import itertools

import numpy as np

from ...backend import to_host
from ..core import Gradient, Mistake, WrongReturn, _same, type_name


def awkward_dims(rng, names, extra=2, high=6):
    """Hidden-check shapes: ``extra`` random non-square ones, then each dimension set to 1 in turn
    (batch of 1, a single output unit, ...), every size drawn fresh from rng.

    The general shapes come first because a failure's likely cause is read from the first failing
    case, and with a size of 1 different mistakes can give the same numbers."""
    dims = []
    for _ in range(extra):
        sizes = rng.choice(np.arange(2, high + 3), size=len(names), replace=len(names) > high + 1)
        dims.append({n: int(s) for n, s in zip(names, sizes)})
    for one in names:
        d = {n: int(rng.integers(2, high + 1)) for n in names}
        d[one] = 1
        dims.append(d)
    return dims


def any_shapes(rng, high=6):
    """Hidden-check shapes for a contract that says "any shape": a matrix, a 3-D array, a vector, a single
    number (a 0-d array) and a column, sizes drawn fresh. Code that loops over two axes, or assumes one,
    fails on some of them; a matrix comes first, where most mistakes show."""

    def n():
        return int(rng.integers(2, high + 1))

    return [(n(), n()), (n(), n(), n()), (n(),), (), (n(), 1)]


VISIBLE_SHAPES = ((4, 3), (2, 3, 2), (5,), ())  # the visible check's, for the same contracts


def label(dims):
    return ", ".join(f"{k}={v}" for k, v in dims.items())


def away_from_zero(a, margin=0.05):
    """Push entries at least ``margin`` away from 0, so no finite difference straddles a ReLU kink."""
    return np.where(a >= 0, a + margin, a - margin)


def vjp_targets(forward, inputs, dout):
    """Gradient targets of sum(forward(**inputs) * dout) for every named input array."""

    def f():
        return float((forward(**inputs) * dout).sum())

    return {name: Gradient(f, x) for name, x in inputs.items()}


def told_apart(*mistakes, most=3):
    """The mistakes, each named only where no other one gives the same numbers; where two or three do (with
    N = 2, "the 1/N is missing", "twice the gradient" and "divided by N - 1" agree), one Mistake that names them
    all, so a message never guesses. Where more than ``most`` agree, none is named."""
    last = [None, None]  # (case, fingerprints): one failure asks every mistake about the same case

    def prints(case):
        """[(mistake i's answer {output: array}, {output: the mistakes that give the same array there})]."""
        if last[0] is not case:
            found = []
            for m in mistakes:
                try:
                    found.append({k: np.asarray(to_host(v), dtype=np.float64) for k, v in m.wrong(case).items()})
                except Exception:  # the mistake cannot happen on this case (shapes)
                    found.append({})
            agree = [{k: frozenset(j for j, other in enumerate(found) if k in other and _same(v, other[k]))
                      for k, v in answer.items()} for answer in found]
            last[:] = [case, list(zip(found, agree))]
        return last[1]

    def exactly(group, case):
        """The outputs on which the mistakes in ``group``, and no other, give the same numbers."""
        answer, agree = prints(case)[min(group)]
        return {k: v for k, v in answer.items() if agree[k] == group}

    named = []
    for size in range(1, most + 1):
        for group in itertools.combinations(range(len(mistakes)), size):
            message = mistakes[group[0]].message if size == 1 else (
                f"one of {size} mistakes that give the same numbers on these inputs: "
                + "; or ".join(mistakes[i].message for i in group))
            named.append(Mistake(message, functools.partial(exactly, frozenset(group))))
    return tuple(named)


def learner_grads(grads, shapes):
    """The learner's list of dW, one per layer, stacked (see stack); or a WrongReturn that says what is wrong
    with it, which fails the grads alone (the rest of what the function returned is still graded)."""
    L = len(shapes)
    if not isinstance(grads, (list, tuple)):
        return WrongReturn(f"grads must be a list of arrays, one dW per layer, first layer first ({L} here), "
                           f"got {type_name(grads)}")
    if len(grads) != L:
        return WrongReturn(f"grads holds {len(grads)} arrays, but the network has {L} layers: return one dW per "
                           f"weight matrix, first layer first")
    arrays = []
    for l, g in enumerate(grads):
        g = to_host(g)
        if not hasattr(g, "shape") or np.asarray(g).dtype.kind not in "fiu":
            return WrongReturn(f"grads[{l}] must be an array of numbers, got {type_name(g)}")
        arrays.append(np.asarray(g, dtype=np.float64))
    got = [a.shape for a in arrays]
    if got != shapes and got != shapes[::-1]:  # reversed: graded, so that the mistake is named
        l = next(l for l in range(L) if got[l] != shapes[l])
        rows, cols = shapes[l]
        hint = ""
        if got[l] == (rows - 1, cols):
            hint = ": it has no bias row (the last row of each dW is the bias's gradient, dz summed over the batch)"
        elif got[l] == (cols, rows):
            hint = ": it looks transposed"
        return WrongReturn(f"grads[{l}] has shape {got[l]}, but weights[{l}] has shape {shapes[l]}; each dW has "
                           f"the shape of its weight matrix (D_l + 1, D_(l+1)), the bias as its last row{hint}")
    return stack(arrays)


def stack(arrays):
    """Arrays (r_l, m_l) -> one (L, max r, max m) array, each padded with zeros."""
    out = np.zeros((len(arrays), max(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays)))
    for l, a in enumerate(arrays):
        out[l, : a.shape[0], : a.shape[1]] = a
    return out


def unstack(G, shapes):
    return [G[l, :r, :m] for l, (r, m) in enumerate(shapes)]


def mlp_activations(L):
    """The course's networks of L layers: tanh on every hidden layer, identity on the output."""
    return ["tanh"] * (L - 1) + ["identity"]


def random_mlp_weights(rng, sizes):
    """Weights for layer sizes [D, ..., C], bias rows last, scaled so tanh units neither saturate nor vanish."""
    return [np.vstack([1.2 * rng.normal(size=(a, b)) / np.sqrt(a), 0.5 * rng.normal(size=(1, b))])
            for a, b in zip(sizes[:-1], sizes[1:])]


def fit_then_predict(exercise_id, maps, gives, read, bars, seeded=False):
    """The adapt of a trained exercise (fit_digits, fit_echo): the learner's fit(x_train, y_train, seed) must
    return predict; the grader calls it on the held-out inputs, ``read(predicted, x_test)`` checks what came back
    (a WrongReturn saying what is wrong), and the result is returned once per bar, each part judging it against
    its own threshold. maps: "images x (M, 64) to labels (M,)"; gives: "labels", for the messages. seeded: the
    fit is trained twice more, to see that its seed is honoured (the same answers again, others with another)."""

    def adapt(implementation):
        if getattr(implementation, "_fits_and_predicts", False):
            return implementation

        def trained(x_train, y_train, seed, x_test):
            predict = implementation(x_train, y_train, seed)
            if predict is None:
                raise WrongReturn(f"{exercise_id} returned None: return predict, the function that maps {maps}; "
                                  f"did you forget `return predict`?")
            if not callable(predict):
                raise WrongReturn(f"{exercise_id} must return predict, a function x -> {gives} (define it inside "
                                  f"{exercise_id} and return it, without calling it); yours returned a value of type "
                                  f"{type_name(predict)}")
            return read(predict(x_test), x_test)

        @functools.wraps(implementation)
        def fitted(x_train, y_train, seed, x_test):
            # The seed is honoured: trained again with it, the same answers; with another, a network from another
            # random start, other answers (a fit that trains nothing, or reads the answer off y_train, gives the same).
            if not seeded:
                return (trained(x_train, y_train, seed, x_test),) * len(bars)
            pristine = (x_train.copy(), y_train.copy())  # for the trainings after the first, which may change its inputs
            first = trained(x_train, y_train, seed, x_test)
            if not np.array_equal(trained(*(a.copy() for a in pristine), seed, x_test), first):
                raise WrongReturn(f"{exercise_id} trained twice with seed={seed} gave different {gives}: take every "
                                  f"random choice (initial weights, minibatch order) from seed, as "
                                  f"rng = np.random.default_rng(seed), and no other random source")
            if np.array_equal(trained(*(a.copy() for a in pristine), seed + 1, x_test), first):
                raise WrongReturn(f"{exercise_id} gave exactly the same {gives} with seed={seed} and seed={seed + 1}: a "
                                  f"network trained from the random start the seed draws answers a little differently "
                                  f"for each seed; train one, from rng = np.random.default_rng(seed)")
            return (first,) * len(bars)

        fitted._fits_and_predicts = True
        return fitted

    return adapt


def predicted_array(value, returns, kind):
    """What a trained exercise's predict(x) returned, as a host array, or WrongReturn saying what it should be.
    returns: "the labels, an int array of shape (M,)" (what to return instead of None); kind: "an array of
    labels, shape (M,)" (what to return instead of something that is not an array)."""
    if value is None:
        raise WrongReturn(f"predict(x) returned None: return {returns}")
    value = to_host(value)
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise WrongReturn(f"predict(x) must return {kind}, got {type_name(value)}")
    return value
