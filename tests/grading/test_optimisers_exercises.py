"""Mutation suite for the optimiser exercises: wrong update rules fail (and are named), correct ones written
in other styles pass."""
import numpy as np
import pytest

from backprop_ref.grading import grade
from mutants import IN_PLACE, assert_fails, assert_fails_naming, assert_passes, soak


# adam_step ------------------------------------------------------------------------------------
def adam(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    return w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def adam_in_place(w, dw, m, v, t, lr, beta1, beta2, eps):
    """Right numbers, but w, m and v overwritten: the caller's arrays are gone."""
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * dw * dw
    w -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return w, m, v


def adam_into_copies(w, dw, m, v, t, lr, beta1, beta2, eps):
    return adam_in_place(w.copy(), dw, m.copy(), v.copy(), t, lr, beta1, beta2, eps)


def adam_loops(w, dw, m, v, t, lr, beta1, beta2, eps):
    w, m, v = w.copy(), m.copy(), v.copy()
    for i in np.ndindex(*w.shape):
        m[i] = beta1 * m[i] + (1 - beta1) * dw[i]
        v[i] = beta2 * v[i] + (1 - beta2) * dw[i] ** 2
        w[i] -= lr * (m[i] / (1 - beta1**t)) / ((v[i] / (1 - beta2**t)) ** 0.5 + eps)
    return w, m, v


def adam_step_size_form(w, dw, m, v, t, lr, beta1, beta2, eps):
    """The paper's efficient form, with eps rescaled so it equals the plain form exactly."""
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    alpha = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return w - alpha * m / (np.sqrt(v) + eps * np.sqrt(1 - beta2**t)), m, v


ADAM_CORRECT = [adam, adam_into_copies, adam_loops, adam_step_size_form]


@pytest.mark.parametrize("impl", ADAM_CORRECT)
def test_adam_step_correct_variants_pass(impl):
    assert_passes("adam_step", impl)


def _adam_variant(**change):
    def impl(w, dw, m, v, t, lr, beta1, beta2, eps):
        c = dict(correct_m=True, correct_v=True, square=True, sign=1, t_shift=0, swap=False)
        c.update(change)
        t = t + c["t_shift"]
        m = beta1 * m + (1 - beta1) * dw
        v = beta2 * v + (1 - beta2) * (dw**2 if c["square"] else np.abs(dw))
        m_hat = m / (1 - beta1**t) if c["correct_m"] else m
        v_hat = v / (1 - beta2**t) if c["correct_v"] else v
        new_w = w - c["sign"] * lr * m_hat / (np.sqrt(v_hat) + eps)
        return (new_w, v, m) if c["swap"] else (new_w, m, v)

    return impl


def adam_two_loops(w, dw, m, v, t, lr, beta1, beta2, eps):
    """Right for matrices only."""
    w, m, v = w.copy(), m.copy(), v.copy()
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            m[i, j] = beta1 * m[i, j] + (1 - beta1) * dw[i, j]
            v[i, j] = beta2 * v[i, j] + (1 - beta2) * dw[i, j] ** 2
            w[i, j] -= lr * (m[i, j] / (1 - beta1**t)) / ((v[i, j] / (1 - beta2**t)) ** 0.5 + eps)
    return w, m, v


def adam_eps_inside(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    return w - lr * (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps), m, v


def adam_scaled(factor):
    """A step `factor` times the right one: a slip too small to see on w, plain on the step."""
    def impl(w, dw, m, v, t, lr, beta1, beta2, eps):
        new_w, m, v = adam(w, dw, m, v, t, lr, beta1, beta2, eps)
        return w + factor * (new_w - w), m, v

    return impl


ADAM_MUTANTS = {
    "in place": (adam_in_place, IN_PLACE),
    "two loops (matrices only)": (adam_two_loops, None),
    "eps inside the square root": (adam_eps_inside, "eps is inside the square root"),
    "step 1% too long": (adam_scaled(1.01), None),
    "step 0.1% too short": (adam_scaled(0.999), None),
    "beta1 and beta2 swapped": (lambda w, dw, m, v, t, lr, b1, b2, eps: adam(w, dw, m, v, t, lr, b2, b1, eps), None),
    "eps ignored": (lambda w, dw, m, v, t, lr, b1, b2, eps: adam(w, dw, m, v, t, lr, b1, b2, 0.0), None),
    "no bias correction": (_adam_variant(correct_m=False, correct_v=False), "no bias correction"),
    "no correction of m": (_adam_variant(correct_m=False), None),
    "no correction of v": (_adam_variant(correct_v=False), None),
    "|dw| instead of dw**2": (_adam_variant(square=False), None),
    "uphill": (_adam_variant(sign=-1), None),
    "t off by one": (_adam_variant(t_shift=1), None),
    "m and v swapped": (_adam_variant(swap=True), None),
}


@pytest.mark.parametrize("name", ADAM_MUTANTS)
def test_adam_step_mutants_fail(name):
    impl, mistake = ADAM_MUTANTS[name]
    assert_fails("adam_step", impl, mistake)


# sgd_step, momentum_step, nesterov_step -----------------------------------------------------------
def sgd(w, dw, lr):
    return w - lr * dw


def sgd_into_a_copy(w, dw, lr):
    w = w.copy()
    w -= lr * dw
    return w


def sgd_loops(w, dw, lr):
    new = np.empty_like(w)
    for i in np.ndindex(*w.shape):
        new[i] = w[i] - lr * dw[i]
    return new


def sgd_float32(w, dw, lr):
    return w.astype(np.float32) - np.float32(lr) * dw.astype(np.float32)


SGD_CORRECT = [sgd, sgd_into_a_copy, sgd_loops, sgd_float32]


@pytest.mark.parametrize("impl", SGD_CORRECT)
def test_sgd_step_correct_variants_pass(impl):
    assert_passes("sgd_step", impl)


SGD_MUTANTS = {
    "uphill": (lambda w, dw, lr: w + lr * dw, "goes uphill"),
    "no lr": (lambda w, dw, lr: w - dw, "lr is missing"),
    "returns lr * dw": (lambda w, dw, lr: lr * dw, "you returned lr * dw"),
    "returns the step": (lambda w, dw, lr: -lr * dw, "you returned the step -lr * dw"),
    "divides by lr": (lambda w, dw, lr: w - dw / lr, "dw is divided by lr"),
    "unchanged": (lambda w, dw, lr: w.copy(), "w came back unchanged"),
    "w as its own gradient": (lambda w, dw, lr: w - lr * w, "uses w in place of its gradient"),
    "sign of dw": (lambda w, dw, lr: w - lr * np.sign(dw), None),
    "lr squared": (lambda w, dw, lr: w - lr**2 * dw, None),
    "in place": (lambda w, dw, lr: np.subtract(w, lr * dw, out=w), IN_PLACE),
    "two loops (matrices only)": (lambda w, dw, lr: np.array([[w[i, j] - lr * dw[i, j] for j in range(w.shape[1])]
                                                               for i in range(w.shape[0])]), None),
    "a vector only": (lambda w, dw, lr: np.array([w[i] - lr * dw[i] for i in range(len(w))]), None),
    "step 1% too long": (lambda w, dw, lr: w - 1.01 * lr * dw, None),
}


@pytest.mark.parametrize("name", SGD_MUTANTS)
def test_sgd_step_mutants_fail_with_their_name(name):
    impl, mistake = SGD_MUTANTS[name]
    assert_fails_naming("sgd_step", impl, mistake)


def momentum(w, dw, v, lr, mu):
    v = mu * v + dw
    return w - lr * v, v


def momentum_in_place(w, dw, v, lr, mu):
    v *= mu
    v += dw
    w -= lr * v
    return w, v


def momentum_into_copies(w, dw, v, lr, mu):
    w, v = w.copy(), v.copy()
    return momentum_in_place(w, dw, v, lr, mu)


def momentum_loops(w, dw, v, lr, mu):
    w, v = w.copy(), v.copy()
    for i in np.ndindex(*w.shape):
        v[i] = mu * v[i] + dw[i]
        w[i] = w[i] - lr * v[i]
    return w, v


def momentum_expanded_float32(w, dw, v, lr, mu):
    """w - lr * mu * v_old - lr * dw, in float32."""
    w, dw, v = (a.astype(np.float32) for a in (w, dw, v))
    lr, mu = np.float32(lr), np.float32(mu)
    return w - lr * mu * v - lr * dw, mu * v + dw


MOMENTUM_CORRECT = [momentum, momentum_into_copies, momentum_loops, momentum_expanded_float32]


@pytest.mark.parametrize("impl", MOMENTUM_CORRECT)
def test_momentum_step_correct_variants_pass(impl):
    assert_passes("momentum_step", impl)


def _velocity_variant(look_ahead, **change):
    """momentum (look_ahead=False) or Nesterov (True) with one thing changed."""

    def impl(w, dw, v, lr, mu):
        c = dict(old_v=False, dampen=False, mu_on="v", sign=1, swap=False, keep_v=False, look_ahead=look_ahead,
                 look_ahead_v="new")
        c.update(change)
        old = v
        if c["mu_on"] == "v":
            v = mu * v + (1 - mu if c["dampen"] else 1) * dw
        elif c["mu_on"] == "dw":
            v = v + mu * dw
        else:  # mu ignored
            v = v + dw
        step_v = old if c["old_v"] else v
        if c["look_ahead"]:
            step = dw + mu * (old if c["look_ahead_v"] == "old" else v)
        else:
            step = step_v
        new_w = w - c["sign"] * lr * step
        new_v = old if c["keep_v"] else v
        return (new_v, new_w) if c["swap"] else (new_w, new_v)

    return impl


def cs231n_momentum(w, dw, v, lr, mu):
    v = mu * v - lr * dw
    return w + v, v


def lr_and_mu_swapped(w, dw, v, lr, mu):
    return momentum(w, dw, v, mu, lr)


MOMENTUM_MUTANTS = {
    "old v in the step": (_velocity_variant(False, old_v=True), "v is not updated before the step"),
    "CS231n form": (cs231n_momentum, "lr is folded into the velocity"),
    "Nesterov's step": (_velocity_variant(True), "this is Nesterov's step"),
    "dampened": (_velocity_variant(False, dampen=True), "dampened by (1 - mu)"),
    "mu on dw": (_velocity_variant(False, mu_on="dw"), "mu multiplies dw"),
    "uphill": (_velocity_variant(False, sign=-1), "the step goes uphill"),
    "outputs swapped": (_velocity_variant(False, swap=True), "the outputs are swapped"),
    "v not returned": (_velocity_variant(False, keep_v=True), "v came back unchanged"),
    "mu ignored": (_velocity_variant(False, mu_on="none"), "mu is ignored"),
    "lr and mu swapped": (lr_and_mu_swapped, None),
    "in place": (momentum_in_place, IN_PLACE),
    "step 1% too long": (lambda w, dw, v, lr, mu: momentum(w, dw, v, 1.01 * lr, mu), None),
    "a matrix only": (lambda w, dw, v, lr, mu: momentum(w.reshape(w.shape[0], w.shape[1]), dw, v, lr, mu), None),
}


@pytest.mark.parametrize("name", MOMENTUM_MUTANTS)
def test_momentum_step_mutants_fail_with_their_name(name):
    impl, mistake = MOMENTUM_MUTANTS[name]
    assert_fails_naming("momentum_step", impl, mistake)


def test_momentum_step_partial_credit():
    """Stepping with the old velocity keeps the v part's point."""
    result = grade("momentum_step", MOMENTUM_MUTANTS["old v in the step"][0])
    assert [(p.name, p.passed) for p in result.parts] == [("v", True), ("w", False)] and result.score == 1


def nesterov(w, dw, v, lr, mu):
    v = mu * v + dw
    return w - lr * (dw + mu * v), v


def nesterov_in_place(w, dw, v, lr, mu):
    v *= mu
    v += dw
    w -= lr * dw
    w -= lr * mu * v
    return w, v


def nesterov_into_copies(w, dw, v, lr, mu):
    return nesterov_in_place(w.copy(), dw, v.copy(), lr, mu)


def nesterov_loops(w, dw, v, lr, mu):
    w, v = w.copy(), v.copy()
    for i in np.ndindex(*w.shape):
        v[i] = mu * v[i] + dw[i]
        w[i] -= lr * (dw[i] + mu * v[i])
    return w, v


def nesterov_expanded_float32(w, dw, v, lr, mu):
    """w - lr * ((1 + mu) * dw + mu**2 * v_old), in float32."""
    w, dw, v = (a.astype(np.float32) for a in (w, dw, v))
    lr, mu = np.float32(lr), np.float32(mu)
    return w - lr * ((1 + mu) * dw + mu * mu * v), mu * v + dw


NESTEROV_CORRECT = [nesterov, nesterov_into_copies, nesterov_loops, nesterov_expanded_float32]


@pytest.mark.parametrize("impl", NESTEROV_CORRECT)
def test_nesterov_step_correct_variants_pass(impl):
    assert_passes("nesterov_step", impl)


def cs231n_nesterov(w, dw, v, lr, mu):
    v_prev = v
    v = mu * v - lr * dw
    return w - mu * v_prev + (1 + mu) * v, v


NESTEROV_MUTANTS = {
    "plain momentum": (_velocity_variant(False), "plain momentum, no look-ahead"),
    "look-ahead with the old v": (_velocity_variant(True, look_ahead_v="old"), "plain momentum, no look-ahead"),
    "look-ahead without dw": (lambda w, dw, v, lr, mu: (w - lr * mu * (mu * v + dw), mu * v + dw), "but not the gradient"),
    "CS231n form": (cs231n_nesterov, "lr is folded into the velocity"),
    "dampened": (_velocity_variant(True, dampen=True), "dampened by (1 - mu)"),
    "mu on dw": (_velocity_variant(True, mu_on="dw"), "mu multiplies dw"),
    "uphill": (_velocity_variant(True, sign=-1), "the step goes uphill"),
    "outputs swapped": (_velocity_variant(True, swap=True), "the outputs are swapped"),
    "v not returned": (_velocity_variant(True, keep_v=True), "v came back unchanged"),
    "mu ignored": (_velocity_variant(True, mu_on="none"), "mu is ignored"),
    "v and dw mixed up": (lambda w, dw, v, lr, mu: (lambda nv: (w - lr * (nv + mu * dw), nv))(mu * v + dw), None),
    "in place": (nesterov_in_place, IN_PLACE),
    "look-ahead 1% too long": (lambda w, dw, v, lr, mu: (w - lr * (dw + 1.01 * mu * (mu * v + dw)), mu * v + dw), None),
}


@pytest.mark.parametrize("name", NESTEROV_MUTANTS)
def test_nesterov_step_mutants_fail_with_their_name(name):
    impl, mistake = NESTEROV_MUTANTS[name]
    assert_fails_naming("nesterov_step", impl, mistake)


# many seeds ----------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    "exercise_id, mutants, correct",
    [
        ("sgd_step", SGD_MUTANTS, SGD_CORRECT),
        ("adam_step", ADAM_MUTANTS, ADAM_CORRECT),
        ("momentum_step", MOMENTUM_MUTANTS, MOMENTUM_CORRECT),
        ("nesterov_step", NESTEROV_MUTANTS, NESTEROV_CORRECT),
    ],
)
def test_optimiser_verdicts_over_200_hidden_seeds(exercise_id, mutants, correct):
    soak(exercise_id, mutants, correct)
