"""The grading engine: verdicts that cannot be fooled, and messages a learner can act on."""
import builtins
import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest

import backprop_ref
import backprop_ref.grading as grading
from backprop_ref import layers
from backprop_ref.grading import check, grade, registry
from test_layers_exercises import dense_vectorised


def dense_bias_mean(dout, cache):
    """Wrong: the bias row averaged over the batch."""
    x, W = cache
    return dout @ W[:-1].T, np.vstack([x.T @ dout, dout.mean(axis=0)])


# ---------------------------------------------------------------------------------------------
# Not fooled by monkeypatching


PATCHES = {
    "np.allclose": (np, "allclose", lambda *a, **k: True),
    "np.testing.assert_allclose": (np.testing, "assert_allclose", lambda *a, **k: None),
    "np.abs": (np, "abs", lambda a: np.zeros_like(a)),
    "np.max": (np, "max", lambda *a, **k: 0.0),
    "np.isclose": (np, "isclose", lambda a, b, **k: np.ones(np.broadcast(a, b).shape, bool)),
    "builtins.abs": (builtins, "abs", lambda a: 0),
    "builtins.float": (builtins, "float", lambda a=0: 0.0),
    "builtins.all": (builtins, "all", lambda it: True),
    "builtins.any": (builtins, "any", lambda it: False),
    "backprop_ref.layers.dense_forward": (layers, "dense_forward", lambda x, W: (np.zeros((x.shape[0], W.shape[1])), (x, W))),
    "grading.core._compare_arrays": (grading.core, "_compare_arrays", lambda name, a, b: grading.core.OutputVerdict(name, True)),
    "grading.core._judge_case": (grading.core, "_judge_case", lambda *a: {}),
}


@pytest.mark.parametrize("patch", PATCHES)
def test_monkeypatching_from_the_answer_cell_does_not_change_the_verdict(monkeypatch, patch):
    module, name, fake = PATCHES[patch]
    monkeypatch.setattr(module, name, fake)
    wrong, right = grade("dense_backward", dense_bias_mean), grade("dense_backward", dense_vectorised)
    monkeypatch.undo()
    assert not wrong.passed and right.passed, f"with {patch} patched: wrong passed={wrong.passed}, right passed={right.passed}"


def test_the_learners_patches_are_back_after_the_check(monkeypatch):
    """Nothing the learner did to their notebook is lost: the grader restores its originals only while it runs."""
    fake = lambda *a, **k: True  # noqa: E731
    monkeypatch.setattr(np, "allclose", fake)
    grade("dense_backward", dense_bias_mean)
    assert np.allclose is fake


def test_the_grader_cannot_be_rebound_on_its_module():
    with pytest.raises(AttributeError, match="backprop_ref.grading.check cannot be replaced"):
        grading.check = lambda *a, **k: None
    assert grading.check is check


# ---------------------------------------------------------------------------------------------
# Delegation, hard-coding, hangs


@pytest.mark.parametrize(
    "delegate",
    [
        lambda dout, cache: backprop_ref.dense_backward(dout, cache),
        lambda dout, cache: layers.dense_backward(dout, cache),
        lambda dout, cache: backprop_ref.affine_backward(dout, *cache),
    ],
    ids=["package", "module", "affine_backward"],
)
def test_delegating_to_the_reference_fails_with_a_clear_message(delegate):
    result = grade("dense_backward", delegate)
    assert not result.passed and result.score == 0
    assert "is the course's reference answer: it is not available while your code is being graded" in str(result)


def test_a_reference_captured_before_the_check_is_refused_too():
    captured = layers.dense_backward  # bound in an earlier cell
    result = grade("dense_backward", lambda dout, cache: captured(dout, cache))
    assert not result.passed and "reference answer" in str(result)


def test_reference_functions_work_outside_checks():
    x, W = np.ones((2, 3)), np.ones((4, 5))
    dx, dW = layers.dense_backward(np.ones((2, 5)), (x, W))
    assert dx.shape == (2, 3) and dW.shape == (4, 5)


def test_hard_coded_answers_fail_the_hidden_check():
    """Arrays copied from the visible check (or computed once and cached) do not fit fresh shapes and data."""
    seen = {}

    def record(dout, cache):
        seen["answer"] = dense_vectorised(dout, cache)
        return seen["answer"]

    assert grade("dense_backward", record).passed
    replay = lambda dout, cache: seen["answer"]  # noqa: E731
    assert grade("dense_backward", replay).passed  # the visible check is fixed: replaying passes it ...
    for seed in range(5):
        assert not grade("dense_backward", replay, hidden=True, seed=seed).passed  # ... the hidden one does not


def test_hidden_checks_draw_fresh_seeds_and_other_shapes_than_the_visible_one():
    visible = grade("dense_backward", dense_vectorised)
    hidden = [grade("dense_backward", dense_vectorised, hidden=True) for _ in range(3)]
    assert len({r.seed for r in hidden}) == 3 and visible.seed not in {r.seed for r in hidden}
    assert set(hidden[0].cases) - set(visible.cases)  # a random shape may be the visible one by chance, not all
    assert any("N=1" in c for c in hidden[0].cases) and any("M=1" in c for c in hidden[0].cases)


def test_a_slow_implementation_is_stopped_with_a_clear_message(monkeypatch):
    quick = dataclasses.replace(registry.EXERCISES["dense_backward"], timeout=0.3)
    monkeypatch.setitem(registry.EXERCISES, "dense_backward", quick)

    def forever(dout, cache):
        while True:
            time.sleep(0.01)

    t0 = time.perf_counter()
    result = grade("dense_backward", forever)
    assert time.perf_counter() - t0 < 5
    assert not result.passed and "did not finish within 0.3 s" in str(result)


# ---------------------------------------------------------------------------------------------
# Messages for broken submissions


def raises_inside(dout, cache):
    x, W = cache
    return dout @ W, None  # (N, M) @ (D + 1, M): shapes do not line up


@pytest.mark.parametrize(
    "impl, message",
    [
        (lambda d, c: None, "returned None: did you forget `return dx, dW`?"),
        (lambda d, c: dense_vectorised(d, c)[0], "must return 2 values (dx, dW); yours returned one ndarray"),
        (lambda d, c: (*dense_vectorised(d, c), 0), "must return 2 values (dx, dW); yours returned 3 values"),
        (lambda d, c: (dense_vectorised(d, c)[0], "dW"), "dW must be an array of numbers, got str"),
        (raises_inside, "dense_backward raised ValueError: matmul"),
        (lambda d, c: (dense_vectorised(d, c)[0][:, :1], dense_vectorised(d, c)[1]), "dx has shape (4, 1), expected (4, 3) = (N, D)"),
        (lambda d, c: (dense_vectorised(d, c)[0] * np.nan, dense_vectorised(d, c)[1]), "dx holds NaN or inf"),
    ],
    ids=["none", "one value", "three values", "string", "exception", "shape", "nan"],
)
def test_broken_submissions_get_a_message_not_a_traceback(impl, message):
    result = grade("dense_backward", impl)
    assert not result.passed
    assert message in str(result)


def test_an_exception_points_at_the_learners_line():
    result = grade("dense_backward", raises_inside)
    assert "in raises_inside" in str(result) and "return dout @ W, None" in str(result)


def test_stub_not_written_yet():
    def stub(dout, cache):
        raise NotImplementedError("dense_backward")

    result = grade("dense_backward", stub)
    assert "dense_backward is not written yet" in str(result) and result.score == 0


# ---------------------------------------------------------------------------------------------
# Results, partial credit, notebook behaviour


def test_partial_credit_per_part():
    result = grade("dense_backward", dense_bias_mean)
    assert [(p.name, p.passed, p.earned) for p in result.parts] == [("dx", True, 1), ("dW", False, 0)]
    assert (result.score, result.max_score) == (1, 3)
    assert set(result.max_rel_error) == {"dx", "dW"}
    assert result.max_rel_error["dx"] < 1e-6 < result.max_rel_error["dW"]


def test_one_part_can_be_graded_alone():
    assert grade("dense_backward", dense_bias_mean, part="dx").passed
    assert not grade("dense_backward", dense_bias_mean, part="dW").passed
    with pytest.raises(ValueError, match=r"dense_backward has no part 'db'; its parts are \['dx', 'dW'\]"):
        grade("dense_backward", dense_bias_mean, part="db")


def test_check_raises_assertion_error_with_the_report_and_prints_on_success(capsys):
    with pytest.raises(AssertionError, match=r"(?s)FAIL dW\n.*Likely cause: the bias row of dW is averaged") as failed:
        check("dense_backward", dense_bias_mean)
    # a notebook shows what _render_traceback_ gives: the report, and no frame of the grader's code
    shown = "\n".join(failed.value._render_traceback_())
    assert shown.startswith("CheckFailed:\ndense_backward: 1 of 2 parts passed") and "grade.py" not in shown
    assert check("dense_backward", dense_vectorised) is None  # nothing for a notebook to show after the report
    out = capsys.readouterr().out
    assert "PASS dW" in out and "1 case)" in out and "<Result" not in out
    assert check("dense_backward", dense_vectorised, raises=False).passed and capsys.readouterr().out == ""


def test_unknown_exercise_and_non_function_are_named():
    with pytest.raises(KeyError, match=r"no exercise 'dense_bakward'; the exercises are: .*dense_backward"):
        grade("dense_bakward", dense_vectorised)
    with pytest.raises(TypeError, match=r"needs your function, got ndarray"):
        grade("dense_backward", np.ones(3))


def test_the_command_line_lists_every_exercise():
    out = subprocess.run([sys.executable, "-m", "backprop_ref.cli", "exercises"], capture_output=True, text=True, check=True).stdout
    for e in registry.EXERCISES.values():
        assert e.id in out and e.signature in out
    total = sum(e.points for e in registry.EXERCISES.values())
    assert f"{len(registry.EXERCISES)} exercises, {total:g} points" in out


def test_an_exception_raised_inside_numpy_points_at_the_learners_line_not_numpys():
    def bad_einsum(dout, cache):
        x, W = cache
        return np.einsum("ij,jk->ik", dout, W), None

    result = str(grade("dense_backward", bad_einsum))
    assert "in bad_einsum" in result and 'np.einsum("ij,jk->ik", dout, W)' in result and "einsumfunc" not in result


def test_a_timeout_is_not_swallowed_by_a_learners_except(monkeypatch):
    quick = dataclasses.replace(registry.EXERCISES["dense_backward"], timeout=0.2)
    monkeypatch.setitem(registry.EXERCISES, "dense_backward", quick)

    def stubborn(dout, cache):
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    result = grade("dense_backward", stubborn)
    assert not result.passed and "did not finish within 0.2 s" in str(result)


@pytest.mark.parametrize("exercise_id", list(registry.EXERCISES))
def test_every_reference_answer_passes_its_own_verdict(exercise_id):
    """The reference answers agree with the targets (central differences or reference values) on the
    visible case and on the hidden cases of several seeds: the verdicts themselves are sound."""
    from backprop_ref.grading.core import _judge_case

    exercise = registry.EXERCISES[exercise_id]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        for dims in list(exercise.visible_dims) + list(exercise.hidden_dims(rng)):
            case = exercise.make_case(rng, dims)
            yours = {k: np.asarray(v, dtype=np.float64) for k, v in case.reference.items()}
            verdicts = _judge_case(exercise, case, yours, rng)
            assert set(verdicts) == set(exercise.outputs)
            assert all(v.passed for v in verdicts.values()), (case.label, [v for v in verdicts.values() if not v.passed])


def test_big_inputs_use_directional_checks_that_catch_and_locate_a_wrong_entry(monkeypatch):
    """dx (40 x 30) and W (31 x 20) are above COORDINATE_LIMIT: a few random directions decide, and
    differenced coordinates say where the error is. One entry off by 10% is enough to fail."""
    from backprop_ref.grading.core import COORDINATE_LIMIT

    dims = {"N": 40, "D": 30, "M": 20}
    assert min(dims["N"] * dims["D"], (dims["D"] + 1) * dims["M"]) > COORDINATE_LIMIT
    big = dataclasses.replace(registry.EXERCISES["dense_backward"], visible_dims=(dims,))
    monkeypatch.setitem(registry.EXERCISES, "dense_backward", big)

    def one_entry_off(dout, cache):
        dx, dW = dense_vectorised(dout, cache)
        dW[5, 7] *= 1.1
        return dx, dW

    assert grade("dense_backward", dense_vectorised).passed
    for seed in range(20):
        result = grade("dense_backward", one_entry_off, seed=seed)
        assert [p.passed for p in result.parts] == [True, False]
        assert "dW is wrong on inputs with N=40, D=30, M=20: at (5, 7)" in str(result)


@pytest.mark.parametrize("exercise_id, delegate", [
    ("sgd_step", lambda w, dw, lr: (lambda new: (backprop_ref.SGD([new], lr).step([dw]), new)[1])(w.copy())),
    ("momentum_step", lambda w, dw, v, lr, mu: (lambda new, opt: (opt.step([dw]), (new, opt.v[0]))[1])(
        *(lambda new: (new, backprop_ref.Momentum([new], lr, mu)))(w.copy()))),
    ("nesterov_step", lambda w, dw, v, lr, mu: (lambda new, opt: (opt.step([dw]), (new, opt.v[0]))[1])(
        *(lambda new: (new, backprop_ref.Nesterov([new], lr, mu)))(w.copy()))),
    ("classifier_grads", lambda x, y, weights: backprop_ref.mlp_loss(weights, x, y, ["tanh"] * (len(weights) - 1) + ["identity"])[1]),
    ("mse_grad", lambda y_hat, y: backprop_ref.mse_loss(y_hat, y)[1]),
    ("softmax_ce_grad", lambda logits, y: backprop_ref.softmax_cross_entropy(logits, y)[1]),
], ids=["SGD class", "Momentum class", "Nesterov class", "mlp_loss", "mse_loss", "softmax_cross_entropy"])
def test_every_public_path_to_an_answer_is_locked_while_a_check_runs(exercise_id, delegate):
    """Not only the reference of the exercise itself: a public class or function that computes its answer too."""
    result = grade(exercise_id, delegate)
    assert not result.passed and result.score == 0, str(result)
    assert "is the course's reference answer: it is not available while your code is being graded" in str(result)
