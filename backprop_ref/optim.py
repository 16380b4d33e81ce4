"""Optimisers: pure update rules, the classes that apply them in place, gradient clipping, schedules.

An update rule takes a parameter ``w`` and its gradient ``dw`` (same shape, any shape) and returns
the new parameter, plus the new state when the rule keeps some (a velocity ``v``, moments ``m``
and ``v``). It never changes its inputs, and it works on NumPy and CuPy arrays alike. The rules
follow PyTorch's conventions (torch.optim.SGD / Adam with default dampening and no weight
decay), so the two give the same numbers:

    sgd_step        w = w - lr * dw
    momentum_step   v = mu * v + dw;                w = w - lr * v
    nesterov_step   v = mu * v + dw;                w = w - lr * (dw + mu * v)
    adam_step       m = beta1 * m + (1 - beta1) * dw
                    v = beta2 * v + (1 - beta2) * dw**2
                    m_hat = m / (1 - beta1**t);     v_hat = v / (1 - beta2**t)
                    w = w - lr * m_hat / (sqrt(v_hat) + eps)

The classes ``SGD``, ``Momentum``, ``Nesterov`` and ``Adam`` hold a list of parameter arrays and
the rule's state, and ``opt.step(grads)`` writes ``w[...] = new_w`` into every parameter, so the
arrays a model was built with are the ones that learn.

Schedules are small functions ``epoch -> lr`` (epoch counted from 0); ``train`` sets
``optimizer.lr = schedule(epoch)`` at the start of every epoch.
"""
import math

from ._checks import ShapeError, check_same_shape
from ._guard import answer_key
from .backend import array_namespace

# ---------------------------------------------------------------------------------------------
# Update rules: pure functions, the maths.


@answer_key
def sgd_step(w, dw, lr):
    """Plain gradient descent: one step downhill.

    w, dw: any shape (the same)   ->   w: same shape
    w = w - lr * dw
    """
    check_same_shape("sgd_step", "dw", dw, "w", w)
    return w - lr * dw


@answer_key
def momentum_step(w, dw, v, lr, mu=0.9):
    """Gradient descent with (heavy-ball) momentum: the velocity ``v`` remembers past gradients.

    w, dw, v: any shape (the same; start with v = 0)   ->   (w, v): same shapes
    v = mu * v + dw
    w = w - lr * v
    """
    check_same_shape("momentum_step", "dw", dw, "w", w)
    check_same_shape("momentum_step", "v", v, "w", w)
    v = mu * v + dw
    return w - lr * v, v


@answer_key
def nesterov_step(w, dw, v, lr, mu=0.9):
    """Nesterov momentum: step with the gradient plus a look-ahead along the new velocity.

    w, dw, v: any shape (the same; start with v = 0)   ->   (w, v): same shapes
    v = mu * v + dw
    w = w - lr * (dw + mu * v)
    """
    check_same_shape("nesterov_step", "dw", dw, "w", w)
    check_same_shape("nesterov_step", "v", v, "w", w)
    v = mu * v + dw
    return w - lr * (dw + mu * v), v


@answer_key
def adam_step(w, dw, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam: momentum on the gradient (m) divided by a running size of the gradient (sqrt v).

    w, dw, m, v: any shape (the same; start with m = v = 0)   t: the step number, 1, 2, ...
    ->   (w, m, v): same shapes
    m = beta1 * m + (1 - beta1) * dw                    (mean of the gradient)
    v = beta2 * v + (1 - beta2) * dw**2                 (mean of its square)
    m_hat = m / (1 - beta1**t);   v_hat = v / (1 - beta2**t)      (bias correction: m, v start at 0)
    w = w - lr * m_hat / (sqrt(v_hat) + eps)
    """
    check_same_shape("adam_step", "dw", dw, "w", w)
    check_same_shape("adam_step", "m", m, "w", w)
    check_same_shape("adam_step", "v", v, "w", w)
    if t < 1:
        raise ValueError(f"adam_step: t counts steps from 1 (it sets the bias correction), got t = {t}")
    xp = array_namespace(w, dw, m, v)
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return w - lr * m_hat / (xp.sqrt(v_hat) + eps), m, v


# ---------------------------------------------------------------------------------------------
# Optimisers: apply a rule to every parameter, in place, and keep its state.


class Optimizer:
    """Applies ``update`` to each array of ``params`` in place; subclasses hold the rule's state.

    params: a list of arrays (the very arrays the model reads)   lr: the learning rate (settable)
    """

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = lr

    @answer_key  # a step computes the update rules' answers (sgd_step, ...): locked while a check runs
    def step(self, grads):
        """w[...] = update(w, dw) for every parameter; grads: a list shaped like params."""
        name = f"{type(self).__name__}.step"
        if len(grads) != len(self.params):
            raise ValueError(f"{name}: got {len(grads)} gradients for {len(self.params)} parameters")
        for i, (w, dw) in enumerate(zip(self.params, grads)):
            if tuple(dw.shape) != tuple(w.shape):
                raise ShapeError(f"{name}: grads[{i}] has shape {tuple(dw.shape)} but params[{i}] has shape {tuple(w.shape)}")
        for i, (w, dw) in enumerate(zip(self.params, grads)):
            self.apply(i, w, dw)

    def update(self, i, w, dw):
        """The new value of parameter i (w) given its gradient dw."""
        raise NotImplementedError

    def apply(self, i, w, dw):
        """Write update(i, w, dw) into w."""
        w[...] = self.update(i, w, dw)

    def _zeros(self):
        return [array_namespace(w).zeros_like(w) for w in self.params]


class SGD(Optimizer):
    """w = w - lr * dw for every parameter."""

    def __init__(self, params, lr):
        super().__init__(params, lr)
        self._lr_dw = [None] * len(self.params)

    def update(self, i, w, dw):
        return sgd_step(w, dw, self.lr)

    def apply(self, i, w, dw):
        # sgd_step's w - lr * dw, but subtracted in place and with lr * dw in a buffer kept from step
        # to step, so a step allocates nothing (a large array costs a fresh page-faulted allocation).
        # lr is taken as a Python float, so lr * dw has dw's dtype even if lr is a NumPy scalar.
        xp = array_namespace(w, dw)
        if self._lr_dw[i] is None or self._lr_dw[i].dtype != dw.dtype:
            self._lr_dw[i] = xp.empty_like(dw)
        w -= xp.multiply(dw, float(self.lr), out=self._lr_dw[i])


class Momentum(Optimizer):
    """momentum_step on every parameter; self.v holds one velocity per parameter."""

    def __init__(self, params, lr, mu=0.9):
        super().__init__(params, lr)
        self.mu = mu
        self.v = self._zeros()

    def update(self, i, w, dw):
        w, self.v[i] = momentum_step(w, dw, self.v[i], self.lr, self.mu)
        return w


class Nesterov(Momentum):
    """nesterov_step on every parameter; self.v holds one velocity per parameter."""

    def update(self, i, w, dw):
        w, self.v[i] = nesterov_step(w, dw, self.v[i], self.lr, self.mu)
        return w


class Adam(Optimizer):
    """adam_step on every parameter; self.m, self.v hold the moments, self.t the steps taken."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m, self.v, self.t = self._zeros(), self._zeros(), 0

    def step(self, grads):
        self.t += 1
        super().step(grads)

    def update(self, i, w, dw):
        w, self.m[i], self.v[i] = adam_step(w, dw, self.m[i], self.v[i], self.t, self.lr, self.beta1, self.beta2, self.eps)
        return w


# ---------------------------------------------------------------------------------------------
# Gradient clipping.


def clip_grad_norm(grads, max_norm):
    """Scale all gradients together so that their total 2-norm is at most max_norm.

    grads: a list of arrays (any shapes)   ->   (clipped_grads: new arrays, same shapes, total_norm: float)
    total_norm = sqrt(sum over all arrays and entries of dw**2)           (before clipping)
    scale = min(1, max_norm / (total_norm + 1e-6));   clipped = scale * dw
    The 1e-6 is torch.nn.utils.clip_grad_norm_'s: it keeps the division finite when all grads are 0.
    Clipping keeps the direction of the step and only shortens it.
    """
    if max_norm <= 0:
        raise ValueError(f"clip_grad_norm: max_norm must be > 0, got {max_norm}")
    total_norm = math.sqrt(sum(float((dw * dw).sum()) for dw in grads))
    scale = min(1.0, max_norm / (total_norm + 1e-6))
    return [scale * dw for dw in grads], total_norm


# ---------------------------------------------------------------------------------------------
# Learning-rate schedules: functions epoch -> lr, epoch counted from 0.


def _check_positive(where, name, value):
    if not value > 0:
        raise ValueError(f"{where}: {name} must be > 0, got {value}")


def constant(lr):
    """lr(epoch) = lr"""
    _check_positive("constant", "lr", lr)
    return lambda epoch: lr


def step_decay(lr0, factor, every):
    """lr(epoch) = lr0 * factor ** (epoch // every)     (torch.optim.lr_scheduler.StepLR, gamma = factor)"""
    _check_positive("step_decay", "lr0", lr0)
    _check_positive("step_decay", "factor", factor)
    if not (isinstance(every, int) and every >= 1):
        raise ValueError(f"step_decay: every must be a whole number of epochs >= 1, got {every!r}")
    return lambda epoch: lr0 * factor ** (epoch // every)


def exponential_decay(lr0, gamma):
    """lr(epoch) = lr0 * gamma ** epoch     (torch.optim.lr_scheduler.ExponentialLR)"""
    _check_positive("exponential_decay", "lr0", lr0)
    _check_positive("exponential_decay", "gamma", gamma)
    return lambda epoch: lr0 * gamma**epoch


def cosine_decay(lr0, total_epochs, lr_min=0.0):
    """lr(epoch) = lr_min + (lr0 - lr_min) * (1 + cos(pi * epoch / total_epochs)) / 2, then lr_min.

    Falls from lr0 at epoch 0 to lr_min at epoch total_epochs along half a cosine, as
    torch.optim.lr_scheduler.CosineAnnealingLR (T_max = total_epochs, eta_min = lr_min) does;
    after total_epochs it stays at lr_min (PyTorch's would rise again).
    """
    _check_positive("cosine_decay", "lr0", lr0)
    if not (isinstance(total_epochs, int) and total_epochs >= 1):
        raise ValueError(f"cosine_decay: total_epochs must be a whole number >= 1, got {total_epochs!r}")
    if not 0 <= lr_min <= lr0:
        raise ValueError(f"cosine_decay: lr_min must lie in [0, lr0] = [0, {lr0}], got {lr_min}")
    return lambda epoch: lr_min + (lr0 - lr_min) * (1 + math.cos(math.pi * min(epoch, total_epochs) / total_epochs)) / 2
