"""Update rules, optimisers, gradient clipping and schedules: against PyTorch and against the formulas by hand."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from backprop_ref._checks import ShapeError
from backprop_ref.backend import to_host
from backprop_ref.optim import (
    SGD,
    Adam,
    Momentum,
    Nesterov,
    adam_step,
    clip_grad_norm,
    constant,
    cosine_decay,
    exponential_decay,
    momentum_step,
    nesterov_step,
    sgd_step,
    step_decay,
)
from oracle import INSTALL_TORCH_CPU

NO_TORCH = f"PyTorch is not installed (its CPU build: {INSTALL_TORCH_CPU}): no torch.optim oracle"
STEPS = 6

# Each rule with hyperparameters away from the defaults (so a swapped or ignored argument shows).
HYPER = {
    "sgd": dict(lr=0.05),
    "momentum": dict(lr=0.05, mu=0.8),
    "nesterov": dict(lr=0.05, mu=0.8),
    "adam": dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
}
CLASSES = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam}


def pure_steps(rule, w, grads, hyper, lrs=None):
    """The parameter after each step of the pure update rule, from zero state; lrs[k] overrides lr at step k."""
    lrs = lrs or [hyper["lr"]] * len(grads)
    v = m = w * 0
    out = []
    for t, (dw, lr) in enumerate(zip(grads, lrs), start=1):
        h = dict(hyper, lr=lr)
        if rule == "sgd":
            w = sgd_step(w, dw, **h)
        elif rule == "momentum":
            w, v = momentum_step(w, dw, v, **h)
        elif rule == "nesterov":
            w, v = nesterov_step(w, dw, v, **h)
        else:
            w, m, v = adam_step(w, dw, m, v, t, **h)
        out.append(w)
    return out


def torch_steps(rule, w, grads, hyper):
    """The parameter after each step of the matching torch.optim optimiser."""
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    p = torch.tensor(np.asarray(to_host(w), dtype=np.float64), requires_grad=True)
    if rule == "adam":
        h = hyper
        opt = torch.optim.Adam([p], lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    else:
        mu = hyper.get("mu", 0.0)
        opt = torch.optim.SGD([p], lr=hyper["lr"], momentum=mu, nesterov=rule == "nesterov")
    out = []
    for dw in grads:
        p.grad = torch.tensor(np.asarray(to_host(dw), dtype=np.float64))
        opt.step()
        out.append(p.detach().numpy().copy())
    return out


def random_problem(xp, shape, seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    w = xp.asarray(rng.normal(size=shape))
    grads = [xp.asarray(rng.normal(size=shape)) for _ in range(steps)]
    return w, grads


# ---------------------------------------------------------------------------------------------
# The pure rules.


@pytest.mark.parametrize("rule", list(HYPER))
@given(shape=array_shapes(min_dims=0, max_dims=3, max_side=5), seed=st.integers(0, 2**32 - 1))
def test_rule_matches_torch_optim_over_several_steps(xp, rule, shape, seed):
    """Each update rule, applied STEPS times to random arrays of random shape, gives torch.optim's parameters."""
    w, grads = random_problem(xp, shape, seed)
    ours = pure_steps(rule, w, grads, HYPER[rule])
    theirs = torch_steps(rule, w, grads, HYPER[rule])
    for t, (a, b) in enumerate(zip(ours, theirs), start=1):
        np.testing.assert_allclose(to_host(a), b, rtol=1e-10, atol=1e-12, err_msg=f"{rule}, step {t}")


def test_adam_defaults_match_torch(xp):
    """adam_step's default hyperparameters are torch.optim.Adam's."""
    w, grads = random_problem(xp, (3, 4), seed=1)
    defaults = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    w_end = w
    m = v = w * 0
    for t, dw in enumerate(grads, start=1):
        w_end, m, v = adam_step(w_end, dw, m, v, t)
    np.testing.assert_allclose(to_host(w_end), torch_steps("adam", w, grads, defaults)[-1], rtol=1e-10)


def test_sgd_step_by_hand(xp):
    """w = w - lr * dw: 1 - 0.1 * 0.5 = 0.95 and -2 - 0.1 * 0.25 = -2.025."""
    w = sgd_step(xp.asarray([1.0, -2.0]), xp.asarray([0.5, 0.25]), lr=0.1)
    np.testing.assert_allclose(to_host(w), [0.95, -2.025], rtol=1e-14)


def test_momentum_step_by_hand(xp):
    """v = 0.9 * [0.1, 0.2] + [0.5, -1] = [0.59, -0.82];  w = [1, 2] - 0.1 * v = [0.941, 2.082]."""
    w, v = momentum_step(xp.asarray([1.0, 2.0]), xp.asarray([0.5, -1.0]), xp.asarray([0.1, 0.2]), lr=0.1, mu=0.9)
    np.testing.assert_allclose(to_host(v), [0.59, -0.82], rtol=1e-14)
    np.testing.assert_allclose(to_host(w), [0.941, 2.082], rtol=1e-14)


def test_nesterov_step_by_hand(xp):
    """v = [0.59, -0.82] as for momentum; the step is dw + 0.9 * v = [1.031, -1.738]; w = [0.8969, 2.1738]."""
    w, v = nesterov_step(xp.asarray([1.0, 2.0]), xp.asarray([0.5, -1.0]), xp.asarray([0.1, 0.2]), lr=0.1, mu=0.9)
    np.testing.assert_allclose(to_host(v), [0.59, -0.82], rtol=1e-14)
    np.testing.assert_allclose(to_host(w), [0.8969, 2.1738], rtol=1e-14)


def test_adam_step_by_hand(xp):
    """Step t = 2 from m = 0.1, v = 0.01 with dw = 0.2, lr = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8."""
    w, m, v = adam_step(xp.asarray([1.0]), xp.asarray([0.2]), xp.asarray([0.1]), xp.asarray([0.01]), t=2, lr=0.1)
    m_expected = 0.09 + 0.02  # 0.9 * 0.1 + 0.1 * 0.2
    v_expected = 0.00999 + 0.00004  # 0.999 * 0.01 + 0.001 * 0.2**2
    m_hat = 0.11 / 0.19  # 1 - 0.9**2
    v_hat = 0.01003 / 0.001999  # 1 - 0.999**2
    np.testing.assert_allclose(to_host(m), [m_expected], rtol=1e-14)
    np.testing.assert_allclose(to_host(v), [v_expected], rtol=1e-14)
    np.testing.assert_allclose(to_host(w), [1.0 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)], rtol=1e-14)


def test_adam_first_step_moves_every_weight_by_lr(xp, rng):
    """With bias correction, step 1 from m = v = 0 is lr * dw / (|dw| + eps): every weight moves by about lr."""
    w = xp.asarray(rng.normal(size=(4, 5)))
    dw = xp.asarray(rng.choice([-1.0, 1.0], size=(4, 5)) * 10.0 ** rng.uniform(-2, 2, size=(4, 5)))
    w_new, _, _ = adam_step(w, dw, w * 0, w * 0, t=1, lr=0.01)
    np.testing.assert_allclose(to_host(xp.abs(w_new - w)), 0.01, rtol=1e-5)


@pytest.mark.parametrize("rule", list(HYPER))
def test_rules_do_not_change_their_inputs(xp, rng, rule):
    """A rule returns new arrays and leaves w, dw and its state as they were."""
    w, dw, m, v = (xp.asarray(rng.normal(size=(3, 2))) for _ in range(4))
    v = v * v  # Adam's v is a mean of squares
    before = [a.copy() for a in (w, dw, m, v)]
    if rule == "sgd":
        sgd_step(w, dw, lr=0.1)
    elif rule == "momentum":
        momentum_step(w, dw, v, lr=0.1)
    elif rule == "nesterov":
        nesterov_step(w, dw, v, lr=0.1)
    else:
        adam_step(w, dw, m, v, t=3)
    for name, a, b in zip(["w", "dw", "m", "v"], (w, dw, m, v), before):
        np.testing.assert_array_equal(to_host(a), to_host(b), err_msg=f"{rule} changed {name}")


def test_rules_keep_float32(xp):
    """float32 parameters stay float32 (Python-float hyperparameters do not promote them)."""
    w = xp.ones((2, 2), dtype=xp.float32)
    assert sgd_step(w, w, 0.1).dtype == xp.float32
    assert all(a.dtype == xp.float32 for a in adam_step(w, w, w * 0, w * 0, 1))


def test_rule_rejects_mismatched_shapes(xp):
    """A gradient of another shape is a ShapeError naming the function and both shapes."""
    with pytest.raises(ShapeError, match=r"momentum_step: dw .*\(2, 3\).*\(3, 2\)"):
        momentum_step(xp.ones((2, 3)), xp.ones((3, 2)), xp.ones((2, 3)), lr=0.1)


def test_adam_rejects_step_zero(xp):
    """t counts from 1; t = 0 would divide by 1 - beta**0 = 0."""
    with pytest.raises(ValueError, match="adam_step: t counts steps from 1"):
        adam_step(xp.ones(2), xp.ones(2), xp.zeros(2), xp.zeros(2), t=0)


# ---------------------------------------------------------------------------------------------
# The optimiser classes.


@pytest.mark.parametrize("rule", list(HYPER))
def test_optimizer_equals_repeated_pure_steps_in_place(xp, rng, rule):
    """opt.step(grads) updates the very arrays it was given, exactly as the pure rule would, also after lr changes."""
    shapes = [(3, 4), (5,)]
    params = [xp.asarray(rng.normal(size=s)) for s in shapes]
    start = [p.copy() for p in params]
    grads = [[xp.asarray(rng.normal(size=s)) for s in shapes] for _ in range(STEPS)]
    lrs = [HYPER[rule]["lr"]] * 3 + [HYPER[rule]["lr"] / 2] * (STEPS - 3)
    opt = CLASSES[rule](params, **HYPER[rule])
    for g, lr in zip(grads, lrs):
        opt.lr = lr
        opt.step(g)
    for i, (p, w0) in enumerate(zip(params, start)):
        assert opt.params[i] is p
        expected = pure_steps(rule, w0, [g[i] for g in grads], HYPER[rule], lrs)[-1]
        np.testing.assert_allclose(to_host(p), to_host(expected), rtol=1e-13, atol=1e-15, err_msg=f"params[{i}]")


@pytest.mark.parametrize("rule", list(HYPER))
def test_optimizer_names_the_mismatched_parameter(xp, rule):
    """A gradient shaped unlike its parameter is a ShapeError naming the index and both shapes; nothing changes."""
    params = [xp.ones((2, 3)), xp.ones((4, 1))]
    opt = CLASSES[rule](params, lr=0.1)
    with pytest.raises(ShapeError, match=r"step: grads\[1\] has shape \(1, 4\) but params\[1\] has shape \(4, 1\)"):
        opt.step([xp.ones((2, 3)), xp.ones((1, 4))])
    assert float(params[0].sum()) == 6.0
    with pytest.raises(ValueError, match="got 1 gradients for 2 parameters"):
        opt.step([xp.ones((2, 3))])


# ---------------------------------------------------------------------------------------------
# Gradient clipping.


@pytest.mark.parametrize("ratio", [0.3, 1.0, 2.5])
def test_clip_grad_norm_matches_torch(xp, rng, ratio):
    """Clipping to ratio * (the total norm) gives torch.nn.utils.clip_grad_norm_'s gradients and total norm."""
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    grads = [xp.asarray(rng.normal(size=s)) for s in [(3, 4), (5,), ()]]
    total = math.sqrt(sum(float((g * g).sum()) for g in grads))
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.tensor(to_host(g))
    expected_norm = torch.nn.utils.clip_grad_norm_(tensors, max_norm=ratio * total)
    clipped, norm = clip_grad_norm(grads, ratio * total)
    assert norm == pytest.approx(float(expected_norm), rel=1e-12)
    for i, (c, t) in enumerate(zip(clipped, tensors)):
        np.testing.assert_allclose(to_host(c), t.grad.numpy(), rtol=1e-12, err_msg=f"grads[{i}]")


def test_clip_grad_norm_by_hand(xp):
    """[3, 4] has norm 5: max_norm 1 scales it to [0.6, 0.8]; max_norm 10 leaves it; the inputs stay unchanged."""
    g = xp.asarray([3.0, 4.0])
    (clipped,), norm = clip_grad_norm([g], 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(to_host(clipped), [0.6, 0.8], rtol=1e-6)
    (same,), _ = clip_grad_norm([g], 10.0)
    np.testing.assert_array_equal(to_host(same), [3.0, 4.0])
    np.testing.assert_array_equal(to_host(g), [3.0, 4.0])
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be > 0"):
        clip_grad_norm([g], 0.0)


# ---------------------------------------------------------------------------------------------
# Schedules.


def torch_lrs(make_scheduler, lr0, epochs):
    """The learning rate torch uses in each epoch 0..epochs-1 under the given scheduler."""
    torch = pytest.importorskip("torch", reason=NO_TORCH)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = make_scheduler(torch.optim.lr_scheduler, opt)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


@pytest.mark.parametrize(
    "ours, theirs, epochs",
    [
        (step_decay(0.1, 0.5, 3), lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), 12),
        (step_decay(0.2, 0.1, 1), lambda s, o: s.StepLR(o, step_size=1, gamma=0.1), 5),
        (exponential_decay(0.1, 0.9), lambda s, o: s.ExponentialLR(o, gamma=0.9), 20),
        (cosine_decay(0.1, 10), lambda s, o: s.CosineAnnealingLR(o, T_max=10), 11),
        (cosine_decay(0.1, 7, lr_min=0.01), lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01), 8),
        (constant(0.05), lambda s, o: s.ConstantLR(o, factor=1.0), 5),
    ],
    ids=["step", "step-every-epoch", "exponential", "cosine", "cosine-lr_min", "constant"],
)
def test_schedule_matches_torch_lr_scheduler(ours, theirs, epochs):
    """Each schedule gives torch.optim.lr_scheduler's learning rate in every epoch (cosine: up to total_epochs)."""
    lr0 = ours(0)
    np.testing.assert_allclose([ours(e) for e in range(epochs)], torch_lrs(theirs, lr0, epochs), rtol=1e-12, atol=1e-15)


def test_schedules_by_hand():
    """The formulas at a few epochs, worked out by hand; cosine stays at lr_min after total_epochs."""
    assert [step_decay(0.1, 0.5, 3)(e) for e in range(7)] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])
    assert [exponential_decay(2.0, 0.5)(e) for e in range(3)] == pytest.approx([2.0, 1.0, 0.5])
    half = (1 + math.sqrt(0.5)) / 2  # (1 + cos(pi / 4)) / 2
    assert [cosine_decay(1.0, 4)(e) for e in range(7)] == pytest.approx([1.0, half, 0.5, 1 - half, 0.0, 0.0, 0.0], abs=1e-15)
    assert cosine_decay(1.0, 4, lr_min=0.2)(2) == pytest.approx(0.6)
    assert constant(0.3)(99) == 0.3


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: step_decay(0.1, 0.5, 0), "step_decay: every must be"),
        (lambda: step_decay(-0.1, 0.5, 2), "step_decay: lr0 must be > 0"),
        (lambda: exponential_decay(0.1, 0.0), "exponential_decay: gamma must be > 0"),
        (lambda: cosine_decay(0.1, 0), "cosine_decay: total_epochs must be"),
        (lambda: cosine_decay(0.1, 10, lr_min=0.5), r"cosine_decay: lr_min must lie in \[0, lr0\]"),
        (lambda: constant(0.0), "constant: lr must be > 0"),
    ],
)
def test_schedule_rejects_bad_arguments(make, message):
    """A schedule that makes no sense is a ValueError naming the function and the argument."""
    with pytest.raises(ValueError, match=message):
        make()
