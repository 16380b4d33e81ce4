"""Mutation suite for the optimiser exercises."""
import numpy as np
import pytest

from mutants import assert_fails, assert_passes


# adam_step ------------------------------------------------------------------------------------
def adam(w, dw, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    return w - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def adam_in_place(w, dw, m, v, t, lr, beta1, beta2, eps):
    m *= beta1
    m += (1 - beta1) * dw
    v *= beta2
    v += (1 - beta2) * dw * dw
    w -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return w, m, v


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


@pytest.mark.parametrize("impl", [adam, adam_in_place, adam_loops, adam_step_size_form])
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


ADAM_MUTANTS = {
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
