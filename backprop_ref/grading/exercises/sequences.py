"""Lesson 8 (backprop through time): a sequence task, the delayed echo, trained with the learner's BPTT.

fit_echo(x_train, y_train, seed) -> predict. The sequences are random signs (data.echo_sequences): the
target at step t is the input of ``delay`` steps before (0 before there is anything to echo), so a network
can only learn it if the gradient of step t's error comes back ``delay`` steps to the input it needs; a
BPTT that drops the gradient flowing between steps (dh_next) stays below about 85% from a delay of 5 on. The
check draws fresh sequences, calls fit_echo on the training ones and scores predict on held-out ones: the
fraction of the steps t >= delay at which the sign of the output is the sign echoed. There is no single
right answer to compare with, so the verdict is AtLeast, at two bars.

The hidden check changes the delay (drawn from 5..7, then 2): a fit_echo that brought the visible delay
along instead of learning it from y_train fails there. Held-out sequences are fresh random signs, almost
surely none of them seen in training, so a fit that memorises its training set scores chance. While the
check runs, the reference BPTT (rnn.rnn_backward, and so rnn_loss, which calls it) is an answer key and
raises DelegationError: the learner trains with their own bptt. The fit is trained three times, to see
that its seed is honoured: with the same seed the same outputs, with another seed other ones (a network from
another random start). A fit that trains nothing, or reads the delay off y_train and shifts its input, gives
the same outputs whatever the seed, and fails there on the visible check too.
"""

import numpy as np

from ...data import echo_sequences as _echo_sequences
from ..core import AtLeast, Case, Exercise, Part, WrongReturn
from ._common import fit_then_predict, predicted_array

BARS = (("accuracy_90", 0.90), ("accuracy_98", 0.98))
N_TRAIN, N_TEST, T = 256, 200, 16  # sequences to train on, to judge on, and their length


fit_and_predict = fit_then_predict("fit_echo", "sequences x (M, T, 1) to outputs (M, T, 1)", "outputs",
                                   lambda outputs, x_test: _outputs(outputs, x_test.shape), BARS, seeded=True)


def _outputs(y_hat, shape):
    """predict's answer as a float array shaped like x, or WrongReturn saying what is wrong with it."""
    y_hat = predicted_array(y_hat, "the network's outputs, an array shaped like x, (M, T, 1)",
                            "an array of outputs, shape (M, T, 1)")
    if tuple(y_hat.shape) != tuple(shape):
        M, T_, _ = shape
        hint = ": reshape it, y_hat.reshape(M, T, 1)" if int(np.prod(y_hat.shape)) == M * T_ else ""
        raise WrongReturn(f"predict(x) must return one output per time step of every sequence, shape "
                          f"{tuple(shape)} like x, got shape {tuple(y_hat.shape)}{hint}")
    if y_hat.dtype.kind not in "fi":
        raise WrongReturn(f"predict(x) must return numbers, the readout's outputs (floats), got dtype {y_hat.dtype}"
                          + (": return the outputs themselves, not a comparison" if y_hat.dtype.kind == "b" else ""))
    return y_hat.astype(np.float64)


def _echo_case(rng, dims):
    """Fresh training and held-out sequences of the delay in dims, and a fresh seed for fit_echo."""
    delay = dims["delay"]
    x_train, y_train = _echo_sequences(N_TRAIN, T, delay, rng)
    x_test, y_test = _echo_sequences(N_TEST, T, delay, rng)
    seed = int(rng.integers(2**31))

    def accuracy(y_hat):
        return float((np.sign(y_hat[:, delay:]) == y_test[:, delay:]).mean())

    return Case(
        args=(x_train, y_train, seed, x_test),
        targets={name: AtLeast(accuracy, bar, "held-out accuracy", "{:.1%}") for name, bar in BARS},
        reference={name: y_test for name, _ in BARS},
        label=f"{N_TEST} held-out sequences of T={T} steps, delay={delay}; fit_echo trained on {N_TRAIN} others "
              f"with seed={seed}",
        data={"y_test": y_test, "delay": delay},
    )


ECHO_ACCURACY = Exercise(
    id="fit_echo",
    signature="fit_echo(x_train, y_train, seed) -> predict   # x_train, y_train: (N, T, 1), y[:, t] = x[:, t - delay]; "
              "predict(x) -> outputs (M, T, 1); graded by the signs it echoes on sequences it never saw",
    lesson="08_backprop_through_time",
    outputs=tuple(name for name, _ in BARS),
    parts=tuple(Part(name, points, (name,)) for (name, _), points in zip(BARS, (1, 2))),
    make_case=_echo_case,
    visible_dims=({"delay": 5},),
    hidden_dims=lambda rng: [{"delay": int(rng.integers(5, 8))}, {"delay": 2}],
    shape_names={name: "(M, T, 1), one output per time step, like x" for name, _ in BARS},
    timeout=180.0,  # three trainings (the seed's check), a minute each at most
    adapt=fit_and_predict,
)

EXERCISES = [ECHO_ACCURACY]
