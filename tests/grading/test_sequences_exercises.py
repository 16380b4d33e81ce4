"""Mutation suite for fit_echo: fits that do not train, train with a wrong BPTT, memorise their training set,
bring the visible delay along or return the wrong thing fail, with messages that say why; correct ones, written
differently (SGD with momentum, Adam written out, full-batch descent, the gradient clipped or not), pass. The
slow test runs them over more hidden seeds."""
import numpy as np
import pytest

import backprop_ref as bp
from backprop_ref.grading import grade
from backprop_ref.grading.exercises import sequences
from mutants import assert_fails, assert_passes
from test_recurrent_exercises import bptt_steps, bptt_stored


def bptt_no_carry(dh, x, h0, Wx, Wh, h):
    """BPTT without dh_next: each step's gradient stops at that step (every weight share still added)."""
    prev = np.concatenate([h0[:, None], h[:, :-1]], axis=1)
    dz = dh * (1 - h**2)
    dWx = np.concatenate([np.einsum("ntd,nth->dh", x, dz), dz.sum(axis=(0, 1))[None]])
    return dz @ Wx[:-1].T, dz[:, 0] @ Wh.T, dWx, np.einsum("nti,ntj->ij", prev, dz)


def _readout(h, Wy):
    N, T, H = h.shape
    return bp.affine(h.reshape(N * T, H), Wy).reshape(N, T, Wy.shape[1])


def _loss_grads(bptt, x, y, params):
    """The gradients of 1/2 * sum over t of the squared error, averaged over the batch, through bptt."""
    Wx, Wh, Wy = params
    N, T, _ = x.shape
    H = Wh.shape[0]
    h0 = np.zeros((N, H))
    h, _ = bp.rnn_forward(x, h0, Wx, Wh)
    dy = ((_readout(h, Wy) - y) / N).reshape(N * T, -1)
    flat = h.reshape(N * T, H)
    dWy = np.vstack([flat.T @ dy, dy.sum(axis=0)])
    dh = (dy @ Wy[:-1].T).reshape(N, T, H)
    _, _, dWx, dWh = bptt(dh, x, h0, Wx, Wh, h)
    return [dWx, dWh, dWy]


def _fit(bptt, H=16, epochs=30, lr=0.05, batch=32, momentum=0.9, clip=5.0, adam=False, full_batch=False):
    """fit_echo: an RNN with a linear readout per step, trained by minibatch SGD with momentum (or Adam, written
    out) on bptt's gradients, clipped to a total norm of clip (None: not clipped)."""

    def fit_echo(x_train, y_train, seed):
        rng = np.random.default_rng(seed)
        params = bp.init_rnn(1, H, 1, rng)
        m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
        step = 0
        for _ in range(epochs):
            batches = [np.arange(len(x_train))] if full_batch else bp.minibatches(len(x_train), batch, rng)
            for b in batches:
                grads = _loss_grads(bptt, x_train[b], y_train[b], params)
                if clip is not None:
                    grads, _ = bp.clip_grad_norm(grads, clip)
                step += 1
                for p, m_i, v_i, g in zip(params, m, v, grads):
                    if adam:
                        m_i[...] = 0.9 * m_i + 0.1 * g
                        v_i[...] = 0.999 * v_i + 0.001 * g * g
                        p -= lr * (m_i / (1 - 0.9**step)) / (np.sqrt(v_i / (1 - 0.999**step)) + 1e-8)
                    else:
                        m_i *= momentum
                        m_i += g
                        p -= lr * m_i

        def predict(x):
            h, _ = bp.rnn_forward(x, np.zeros((x.shape[0], H)), params[0], params[1])
            return _readout(h, params[2])

        return predict

    fit_echo.__name__ = f"fit_{bptt.__name__}"
    return fit_echo


fit_momentum = _fit(bptt_steps)
fit_adam = _fit(bptt_stored, H=24, epochs=20, lr=0.01, adam=True, clip=None)
fit_full_batch = _fit(bptt_steps, epochs=400, lr=0.3, full_batch=True, clip=1.0)
fit_adam.__name__, fit_full_batch.__name__ = "fit_adam", "fit_full_batch"

ECHO_CORRECT = [fit_momentum, fit_adam, fit_full_batch]


def _untrained(x_train, y_train, seed):
    """The network as initialised: nothing learned."""
    return _fit(bptt_steps, epochs=0)(x_train, y_train, seed)


def _memorised(x_train, y_train, seed):
    """Looks the answer up: the training sequence nearest to the one asked about, and its targets."""
    flat = x_train.reshape(len(x_train), -1)
    return lambda x: y_train[np.argmin(((x.reshape(len(x), 1, -1) - flat[None]) ** 2).sum(axis=2), axis=1)]


def _shifted_by_5(x_train, y_train, seed):
    """Brings the visible check's delay along instead of learning it: x shifted 5 steps, no training."""

    def predict(x):
        y = np.zeros_like(x)
        y[:, 5:] = x[:, :-5]
        return y

    return predict


def _returning(change):
    def fit_echo(x_train, y_train, seed):
        predict = fit_momentum(x_train, y_train, seed)
        return lambda x: change(predict(x))

    return fit_echo


ECHO_MUTANTS = {
    "does not train": (_untrained, "held-out accuracy is"),
    "trains with no carry between steps": (_fit(bptt_no_carry), "held-out accuracy is"),
    "memorises the training set": (_memorised, "exactly the same outputs with seed="),
    "predict drops the last axis": (_returning(lambda y: y[..., 0]), "reshape it"),
    "predict returns the last step only": (_returning(lambda y: y[:, -1]), "one output per time step"),
    "predict returns a comparison": (_returning(lambda y: y > 0), "not a comparison"),
    "fit returns the outputs": (lambda x, y, s: fit_momentum(x, y, s)(x), "must return predict"),
    "fit returns nothing": (lambda x, y, s: None, "fit_echo returned None"),
}


@pytest.mark.parametrize("impl", ECHO_CORRECT, ids=lambda f: f.__name__)
def test_fit_echo_correct_variants_pass(impl):
    assert_passes("fit_echo", impl, seeds=(1,))


@pytest.mark.parametrize("name", ECHO_MUTANTS)
def test_fit_echo_mutants_fail_and_say_why(name):
    impl, message = ECHO_MUTANTS[name]
    assert_fails("fit_echo", impl, message)


def _shifted_by_the_delay(x_train, y_train, seed):
    """Reads the delay off y_train (where the targets start) and shifts its input by it: no network, no seed."""
    delay = int(np.argmax(np.abs(y_train[0, :, 0]) > 0))

    def predict(x):
        y = np.zeros_like(x)
        y[:, delay:] = x[:, :-delay]
        return y

    return predict


def _trained_then_shifted(x_train, y_train, seed):
    """Trains a network (with the learner's bptt) and answers with a shift of the input anyway."""
    trained = fit_momentum(x_train, y_train, seed)
    return lambda x: _shifted_by_the_delay(x_train, y_train, seed)(x) + 0 * trained(x)


@pytest.mark.parametrize("fit", [_shifted_by_5, _shifted_by_the_delay, _trained_then_shifted])
def test_a_fit_that_shifts_its_input_instead_of_learning_fails_on_the_seed(fit):
    for hidden, seed in ((False, None), (True, 2)):
        result = grade("fit_echo", fit, hidden=hidden, seed=seed)
        assert result.score == 0 and "exactly the same outputs with seed=" in str(result), str(result)


def test_a_fit_that_ignores_its_seed_fails():
    def unseeded(x_train, y_train, seed):
        return fit_momentum(x_train, y_train, int(np.random.default_rng().integers(2**31)))  # not from seed

    result = grade("fit_echo", unseeded)
    assert result.score == 0 and "trained twice with seed=" in str(result), str(result)


def test_training_on_the_reference_bptt_is_refused():
    """bp.rnn_backward (and bp.rnn_loss, which calls it) are answer keys: while fit_echo is graded they raise."""

    def reference(dh, x, h0, Wx, Wh, h):
        return bp.rnn_backward(dh, bp.rnn_forward(x, h0, Wx, Wh)[1])[:4]

    for fit in (_fit(reference), lambda x, y, s: bp.rnn_loss(bp.init_rnn(1, 4, 1, np.random.default_rng(s)), x, y)):
        result = grade("fit_echo", fit)
        assert result.score == 0 and "is the course's reference answer" in str(result), str(result)


def test_the_targets_echo_the_inputs_and_held_out_sequences_are_fresh():
    case = sequences.ECHO_ACCURACY.make_case(np.random.default_rng(0), {"delay": 4})
    x_train, y_train, _, x_test = case.args
    assert x_train.shape == (sequences.N_TRAIN, sequences.T, 1) and x_test.shape == (sequences.N_TEST, sequences.T, 1)
    np.testing.assert_array_equal(y_train[:, 4:], x_train[:, :-4])
    assert not y_train[:, :4].any() and set(np.unique(x_train)) == {-1.0, 1.0}
    assert not {s.tobytes() for s in x_test} & {s.tobytes() for s in x_train}
    assert case.targets["accuracy_90"].score(case.data["y_test"]) == 1.0


def test_echo_sequences_says_what_is_wrong_with_its_arguments():
    with pytest.raises(ValueError, match="delay must be below T"):
        bp.data.echo_sequences(3, 4, 4, rng=0)
    with pytest.raises(ValueError, match="needs rng"):
        bp.data.echo_sequences(3, 4, 2, rng=None)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 8))
def test_fit_echo_soak(seed):
    for impl in ECHO_CORRECT:
        assert grade("fit_echo", impl, hidden=True, seed=seed).passed, impl.__name__
    for name in ("does not train", "trains with no carry between steps", "memorises the training set"):
        assert not grade("fit_echo", ECHO_MUTANTS[name][0], hidden=True, seed=seed).passed, name
