"""Contracts every exercise shares, proved on every exercise: inputs come back unchanged (a right answer that
writes into an input fails every part); what a function returns is judged output by output (a malformed output
fails its own part and is described as what it is, never as an exception the learner's code "raised")."""
import numpy as np
import pytest

from backprop_ref.engine import Node
from backprop_ref.grading import EXERCISES, grade
from mutants import IN_PLACE
from test_basics_exercises import DESCENT_CORRECT, GRAPH_CORRECT, NUMGRAD_CORRECT, ONE_WEIGHT_CORRECT
from test_claims_exercises import CORRECT as CLAIMS_CORRECT, SPREAD_CORRECT
from test_classifier_exercises import CLS_CORRECT, DIGITS_CORRECT
from test_layers_exercises import SUITES as LAYER_SUITES
from test_layers_exercises import mlp_loop
from test_optimisers_exercises import ADAM_CORRECT, MOMENTUM_CORRECT, NESTEROV_CORRECT, SGD_CORRECT
from test_recurrent_exercises import SUITES as RECURRENT_SUITES
from test_relaxation_exercises import RELAX_CORRECT
from test_sequences_exercises import ECHO_CORRECT
from test_engine_exercises import CORRECT as ENGINE_CORRECT

CORRECT = {
    "one_weight_grad": ONE_WEIGHT_CORRECT[0], "gradient_descent": DESCENT_CORRECT[0], "graph_backward": GRAPH_CORRECT[0],
    "numerical_gradient": NUMGRAD_CORRECT[0], "sgd_step": SGD_CORRECT[0], "momentum_step": MOMENTUM_CORRECT[0],
    "nesterov_step": NESTEROV_CORRECT[0], "adam_step": ADAM_CORRECT[0], "classifier_grads": CLS_CORRECT[0],
    "fit_digits": DIGITS_CORRECT[0], "per_example_grads": CLAIMS_CORRECT[0], "predicted_spread": SPREAD_CORRECT[0],
    "backprop": ENGINE_CORRECT[0],
    "relax": RELAX_CORRECT[0], "fit_echo": ECHO_CORRECT[0],
    **{e: suite[0][0] for e, suite in {**LAYER_SUITES, **RECURRENT_SUITES}.items()},
}


def test_every_exercise_is_here():
    assert set(CORRECT) == set(EXERCISES)


def _first_float_array(value):
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
        return value
    if isinstance(value, (list, tuple)):
        return next((a for a in map(_first_float_array, value) if a is not None), None)
    return None


def writes_into_an_input(implementation, which):
    """The right answer, after which one entry of an input (the first float array in argument ``which``) moves."""

    def impl(*args):
        returned = implementation(*args)
        if isinstance(args[which], Node):  # an engine graph: its root's value moves
            args[which].value += 0.5
        else:
            _first_float_array(args[which]).flat[-1] += 0.5
        return returned

    return impl


@pytest.mark.parametrize("exercise", EXERCISES.values(), ids=lambda e: e.id)
def test_a_right_answer_that_changes_an_input_fails_every_part_and_says_so(exercise):
    for which, name in enumerate(exercise.inputs):
        case = exercise.make_case(np.random.default_rng(0), exercise.visible_dims[0])
        if which >= len(case.args) or _first_float_array(case.args[which]) is None and not isinstance(case.args[which], Node):
            continue  # not an array (a learning rate, a function)
        result = grade(exercise.id, writes_into_an_input(CORRECT[exercise.id], which))
        assert result.score == 0 and all(IN_PLACE in p.message or "the same as above" in p.message or not p.message
                                         for p in result.parts), str(result)
        assert f"changed {name}" in str(result), str(result)
    assert grade(exercise.id, CORRECT[exercise.id]).passed  # the same answer, leaving its inputs alone


def test_moving_an_entry_and_putting_it_back_is_no_change():
    """x[i] += h, then -= 2h, then += h can leave the last bit of x[i] changed: that is rounding, not a change."""

    def numgrad_add_and_subtract(f, x, dout, h):
        grad = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            x[i] += h
            plus = float(np.sum(f(x) * dout))
            x[i] -= 2 * h
            minus = float(np.sum(f(x) * dout))
            x[i] += h
            grad[i] = (plus - minus) / (2 * h)
        return grad

    for seed in (None, 1, 2):
        assert grade("numerical_gradient", numgrad_add_and_subtract, hidden=seed is not None, seed=seed).passed


def mlp_without_bias_rows(x, weights, dout):
    dx, grads = mlp_loop(x, weights, dout)
    return dx, [g[:-1] for g in grads]


def test_a_malformed_output_fails_its_own_part_only():
    """dW without its bias row loses the grads part, with what is wrong with it; the right dx keeps its point."""
    for seed in (None, 1):
        result = grade("mlp_backward", mlp_without_bias_rows, hidden=seed is not None, seed=seed)
        parts = {p.name: p for p in result.parts}
        assert parts["dx"].passed and not parts["grads"].passed and result.score == parts["dx"].points, str(result)
        assert "it has no bias row" in parts["grads"].message and "raised" not in str(result), str(result)


@pytest.mark.parametrize("exercise_id, implementation, said", [
    ("dense_backward", lambda dout, cache: (CORRECT["dense_backward"](dout, cache)[0], None), "returned None for dW"),
    ("dense_backward", lambda dout, cache: (CORRECT["dense_backward"](dout, cache)[0], "dW"), "dW must be an array of numbers, got str"),
    ("classifier_grads", lambda x, y, w: [g.T for g in CORRECT["classifier_grads"](x, y, w)], "it looks transposed"),
    ("classifier_grads", lambda x, y, w: None, "classifier_grads returned None instead of grads"),
    ("fit_digits", lambda x, y, seed: (lambda images: np.zeros((len(images), 10))), "one score per class"),
    ("fit_digits", lambda x, y, seed: 3, "fit_digits must return predict"),
])
def test_what_a_function_returned_is_described_as_such(exercise_id, implementation, said):
    result = grade(exercise_id, implementation)
    assert not result.passed and said in str(result) and "raised" not in str(result), str(result)
    if exercise_id == "dense_backward":  # the other output is still graded
        assert [p.passed for p in result.parts] == [True, False], str(result)
