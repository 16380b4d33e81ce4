"""Lesson 05: backprop through a whole network, watched while it learns two spirals.

``spiral_trainer(mlp_backward)`` trains a tanh network on ``bp.data.two_spirals`` with the learner's
``mlp_backward(x, weights, dout) -> (dx, grads)`` and shows the decision boundary beside the loss curve.
It trains by plain full-batch gradient descent, ``W -= lr * dW`` (lesson 1's rule; the faster optimisers
come in lesson 6). Nothing trains until the learner presses play or step, so "Run All" only draws the
untrained network. A new architecture starts over at the default learning rate, which suits every size
the sliders offer (a rate raised for one network would kill the next one).
"""
import time

import ipywidgets as widgets
import numpy as np

from .. import data
from .._checks import NotFiniteError
from .._guard import answer_key
from ..backend import array_namespace, to_host
from ..losses import accuracy, softmax_cross_entropy
from ..mlp import init_mlp, mlp_backward, mlp_forward
from ._base import Explorer, learner_or_reference

EPOCHS_PER_TICK = 50  # full-batch gradient-descent steps per play tick or step press: tens of ms, then one redraw
LR = 1.0  # the default learning rate: 2 -> 16 -> 16 -> 2 separates the spirals in about 1000 epochs
GRID = 80  # the decision boundary is drawn from the network's output on a GRID x GRID grid
LIMIT = 1.3  # ... over [-LIMIT, LIMIT]^2, where the spirals lie


def activations(depth):
    """tanh on each of the depth hidden layers, identity on the output layer (the logits)."""
    return ["tanh"] * depth + ["identity"]


@answer_key
def reference_mlp_backward(x, weights, dout):
    """The reference, with the exercise's signature: forward to get the caches, then backward."""
    _, caches = mlp_forward(x, weights, activations(len(weights) - 1))
    return mlp_backward(dout, caches)


def spirals(n_per_class=100, noise=0.05, seed=0):
    """The data set the widget learns: x (2 * n_per_class, 2), y (2 * n_per_class,) labels 0/1."""
    return data.two_spirals(n_per_class, noise, np.random.default_rng(seed), turns=1.5)


class SpiralTraining:
    """A network [2, hidden, ..., hidden, 2] learning two spirals by full-batch gradient descent.

    backward(x, weights, dout) -> (dx, grads): the learner's mlp_backward (or the reference).
    history: the loss before each epoch's step, so history[0] is the untrained network's loss.
    """

    def __init__(self, backward, hidden=16, depth=2, lr=LR, seed=1):
        self.backward = backward
        self.hidden, self.depth = hidden, depth
        self.x, self.y = spirals()
        self.weights = init_mlp([2] + [hidden] * depth + [2], np.random.default_rng(seed))
        self.lr = lr
        self.epoch = 0
        self.history = []
        self.lr_changes = []  # epochs at which the learning rate was changed, to mark on the loss curve
        self.diverged = False

    def loss_and_grads(self):
        logits, _ = mlp_forward(self.x, self.weights, activations(self.depth))
        loss, dout = softmax_cross_entropy(logits, self.y)
        _, grads = self.backward(self.x, self.weights, dout)
        return float(loss), grads

    def set_lr(self, lr):
        if lr != self.lr:
            self.lr = lr
            if self.epoch > 0:
                self.lr_changes.append(self.epoch)

    def train(self, epochs=EPOCHS_PER_TICK):
        """Take `epochs` full-batch steps (none once the weights have blown up)."""
        for _ in range(epochs):
            if self.diverged:
                return
            try:
                loss, grads = self.loss_and_grads()
            except NotFiniteError:
                self.diverged = True
                return
            if not np.isfinite(loss):
                self.diverged = True
                return
            self.history.append(loss)
            for W, dW in zip(self.weights, grads):  # gradient descent: a step against the gradient
                W -= self.lr * dW
            self.epoch += 1

    def evaluate(self):
        """(loss, accuracy) of the network as it is now: accuracy a fraction in [0, 1]."""
        logits, _ = mlp_forward(self.x, self.weights, activations(self.depth))
        if not np.all(np.isfinite(to_host(logits))):
            return float("nan"), float("nan")
        loss, _ = softmax_cross_entropy(logits, self.y)
        return float(loss), accuracy(logits, self.y)

    def probabilities(self, grid=GRID):
        """P(class 1) on a grid x grid grid over [-LIMIT, LIMIT]^2 (rows: second coordinate)."""
        u = np.linspace(-LIMIT, LIMIT, grid)
        points = np.stack(np.meshgrid(u, u), axis=-1).reshape(-1, 2)
        points = array_namespace(self.x).asarray(points, dtype=self.x.dtype)  # on the data's device
        logits, _ = mlp_forward(points, self.weights, activations(self.depth))
        logits = to_host(logits)
        margin = np.clip(logits[:, 1] - logits[:, 0], -50, 50)
        return (1 / (1 + np.exp(-margin))).reshape(grid, grid)


def spiral_trainer(mlp_backward_fn, lr=LR, hidden=16, depth=2):
    """Train on two spirals with mlp_backward_fn(x, weights, dout) -> (dx, grads); a widget to display.

    Controls: the learning rate (first), hidden units per layer and hidden layers (changing either
    starts over with fresh weights and sets lr back to its starting value), play (EPOCHS_PER_TICK epochs
    per tick) and a step button (one tick). After the weights blow up, moving lr starts over too.
    """
    backward = learner_or_reference(mlp_backward_fn, reference_mlp_backward, "mlp_backward")
    return SpiralTrainer(backward, lr=lr, hidden=hidden, depth=depth)


class SpiralTrainer(Explorer):
    """The Explorer for spiral_trainer: sliders, then play and step; self.run is the training run."""

    def __init__(self, backward, lr=LR, hidden=16, depth=2):
        self.backward = backward
        self.run = None
        self.start_lr = lr  # a new architecture starts over at this learning rate
        self._quiet = False
        self.note = widgets.HTML()
        self.note.add_class("bp-note")
        controls = {
            "lr": widgets.FloatSlider(value=lr, min=0.1, max=6.0, step=0.1, description="lr",
                                      readout_format=".2f", continuous_update=False),
            "hidden": widgets.IntSlider(value=hidden, min=2, max=48, step=2, description="hidden",
                                        readout_format="d", continuous_update=False),
            "layers": widgets.IntSlider(value=depth, min=1, max=4, step=1, description="layers",
                                        readout_format="d", continuous_update=False),
        }
        for control in controls.values():
            control.layout.width = "230px"
        self.play = widgets.Play(value=0, min=0, max=10**6, step=1, interval=300, description="play")
        self.play.add_class("bp-play")
        self.step_button = widgets.Button(description="step", tooltip=f"train {EPOCHS_PER_TICK} epochs")
        self.step_button.add_class("bp-step")
        self.play.observe(self._played, names="value")
        self.step_button.on_click(lambda button: self.tick())
        self.seconds_per_tick = None
        for name in ("hidden", "layers"):  # observed before the Explorer's redraw, so it draws once, at start_lr
            controls[name].observe(self._architecture_changed, names="value")
        super().__init__(self._draw, controls, figsize=(9, 3.5), css_class="bp-spirals")
        row = self.children[0]
        row.children = row.children + (self.play, self.step_button)
        self.children = self.children + (self.note,)

    def _architecture_changed(self, change):
        """A new network starts at the starting learning rate: the lr that suited the last one may kill it."""
        self._quiet = True  # the lr slider's own redraw would draw the new network twice
        try:
            self.controls["lr"].value = self.start_lr
        finally:
            self._quiet = False

    def update(self, change=None):
        if not self._quiet:
            super().update(change)

    def _played(self, change):
        if change["new"] > change["old"]:  # play's stop button sets it back to 0: that trains nothing
            self.tick()

    def tick(self):
        """Train one chunk of epochs and redraw (what play does on every tick and step on every press)."""
        start = time.perf_counter()
        self.run.train()
        self.update()
        self.seconds_per_tick = time.perf_counter() - start

    def _draw(self, fig, lr, hidden, layers):
        start_over = self.run is None or (self.run.hidden, self.run.depth) != (hidden, layers)
        if start_over or (self.run.diverged and lr != self.run.lr):
            self.run = SpiralTraining(self.backward, hidden=hidden, depth=layers, lr=lr)
            self.run.loss_and_grads()  # one backward pass, so the note can say whose mlp_backward is at work
        run = self.run
        run.set_lr(lr)
        loss, acc = run.evaluate()
        self.note.value = self.backward.note

        ax = fig.add_subplot(1, 2, 1)
        x, y = to_host(run.x), to_host(run.y)
        if np.isfinite(loss):
            ax.imshow(run.probabilities(), origin="lower", extent=(-LIMIT, LIMIT, -LIMIT, LIMIT),
                      cmap="RdBu_r", vmin=0, vmax=1, alpha=0.5)
        ax.scatter(x[:, 0], x[:, 1], c=np.where(y == 1, "tab:red", "tab:blue"), s=10, edgecolors="w",
                   linewidths=0.4)
        ax.set(xlim=(-LIMIT, LIMIT), ylim=(-LIMIT, LIMIT), xticks=[], yticks=[], aspect="equal",
               title=f"2 -> {' -> '.join([str(hidden)] * layers)} -> 2, epoch {run.epoch}")

        ax = fig.add_subplot(1, 2, 2)
        if run.history:
            ax.plot(np.arange(len(run.history)), run.history, color="C0")
        for epoch in run.lr_changes:
            ax.axvline(epoch, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="epoch", ylabel="loss (cross-entropy)",
               xlim=(0, max(100, run.epoch)), ylim=(0, 1.05 * max([0.7, *run.history])),
               title=f"gradient descent, lr = {lr:.2f}" + (" (dotted: lr changed)" if run.lr_changes else ""))
        fig.subplots_adjust(left=0.0, right=0.97, bottom=0.15, top=0.9, wspace=0.0)  # tight_layout: 0.1 s slower

        if run.diverged or not np.isfinite(loss):
            return f"epoch {run.epoch}, loss diverged (move lr to start over)"
        return f"epoch {run.epoch}, loss {loss:.3f}, accuracy {100 * acc:.0f}%"
