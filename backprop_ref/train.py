"""The training loop: minibatches, an optimiser, a schedule, clipping, a progress bar, a history.

    weights = init_mlp([2, 16, 2], rng)
    loss_and_grads = lambda W, xb, yb: mlp_loss(W, xb, yb, ["tanh", "identity"])
    history = train(weights, loss_and_grads, x, y, Adam(weights, lr=0.01), epochs=100, batch_size=32)

``loss_and_grads(params, xb, yb) -> (loss, grads)`` is any function with that signature; the
optimiser changes ``params`` in place, so after ``train`` the weights are the trained ones.
"""
import math
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ._checks import NotFiniteError, ShapeError
from .backend import array_namespace
from .optim import clip_grad_norm

_ADVICE = "the weights have diverged: try a smaller learning rate (or gradient clipping), and check the data for NaN"


def minibatches(n, batch_size, rng):
    """Index arrays that split range(n) into shuffled batches: every index exactly once.

    n: number of examples   batch_size: int, or None for one full batch (in order, rng unused)
    rng: numpy.random.Generator (the only source of randomness)
    -> yields NumPy int arrays of length batch_size; the last one may be shorter.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"minibatches: n must be a whole number >= 1, got {n!r}")
    if batch_size is None:
        yield np.arange(n)
        return
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise ValueError(f"minibatches: batch_size must be a whole number >= 1 or None (full batch), got {batch_size!r}")
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@dataclass
class History:
    """What happened during training.

    epoch_loss: mean loss over the batches of each epoch (one per epoch)
    step_loss:  the loss of every batch, in order (one per optimiser step)
    lr:         the learning rate used in each epoch
    metrics:    the dicts callback(epoch, params) returned (one per epoch), each with its "epoch" added
    """

    epoch_loss: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    metrics: list = field(default_factory=list)


def train(
    params,
    loss_and_grads,
    x,
    y,
    optimizer,
    epochs,
    batch_size=None,
    rng=None,
    schedule=None,
    clip=None,
    progress=True,
    callback=None,
):
    """Train params in place by minibatch gradient descent; return the History.

    params: list of arrays, the ones ``optimizer`` was built with
    loss_and_grads(params, xb, yb) -> (loss: float, grads: list shaped like params)
    x: (N, D) or (N, T, D)   y: (N, ...) targets (labels or values), both batched along axis 0
    optimizer: SGD, Momentum, Nesterov, Adam (anything with .step(grads) and .lr)
    epochs: passes over the data   batch_size: int, or None for full batch
    rng: numpy.random.Generator or int seed for the shuffling (default seed 0: the same run every time)
    schedule: epoch -> lr, applied at the start of each epoch   clip: max_norm for clip_grad_norm, or None
    progress: show a tqdm bar over epochs (terminal or notebook)
    callback(epoch, params) -> dict of metrics or None, called after each epoch

    Each step:  loss, grads = loss_and_grads(params, x[idx], y[idx]);  optimizer.step(grads)
    """
    where = "train"
    if not (isinstance(epochs, (int, np.integer)) and epochs >= 0):
        raise ValueError(f"{where}: epochs must be a whole number >= 0, got {epochs!r}")
    if x.shape[0] != y.shape[0]:
        raise ShapeError(
            f"{where}: x and y must have the same number of examples N (axis 0), got x {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if any(a is not b for a, b in zip(getattr(optimizer, "params", params), params)):
        raise ValueError(f"{where}: the optimizer was built with other arrays than params; build it with these params")
    xp = array_namespace(x, y)
    rng = np.random.default_rng(0 if rng is None else rng)  # a Generator passes through unchanged
    history = History()
    with tqdm(range(epochs), desc="train", unit="epoch", disable=not progress) as bar:
        for epoch in bar:
            if schedule is not None:
                optimizer.lr = schedule(epoch)
            losses = []
            for step, idx in enumerate(minibatches(x.shape[0], batch_size, rng)):
                idx = xp.asarray(idx)
                try:
                    loss, grads = loss_and_grads(params, x[idx], y[idx])
                except NotFiniteError as e:
                    raise NotFiniteError(f"{where}: epoch {epoch}, step {step}: {e}; {_ADVICE}") from e
                loss = float(loss)
                if not math.isfinite(loss):
                    raise NotFiniteError(f"{where}: epoch {epoch}, step {step}: the loss is {loss}; {_ADVICE}")
                if clip is not None:
                    grads, _ = clip_grad_norm(grads, clip)
                optimizer.step(grads)
                losses.append(loss)
            history.step_loss += losses
            history.epoch_loss.append(sum(losses) / len(losses))
            history.lr.append(optimizer.lr)
            shown = {"loss": f"{history.epoch_loss[-1]:.4g}"}
            if callback is not None:
                metrics = callback(epoch, params)
                if metrics is not None:
                    history.metrics.append({"epoch": epoch, **metrics})
                    shown.update({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in metrics.items()})
            bar.set_postfix(shown, refresh=False)
    return history
