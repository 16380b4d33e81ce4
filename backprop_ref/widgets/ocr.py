"""Lesson 7 (optical character recognition): handwritten digits, what a classifier gets wrong, label noise.

    show_digits(x, y)                          a grid of digits with their labels
    confusion_matrix(y, predicted)             counts[true, predicted], a (10, 10) int array
    show_errors(x, y, predicted)               the misclassified digits, "true 3, said 8", and the matrix
    label_noise_explorer(classifier_grads)     retrain on partly random labels: held-out accuracy vs noise

The pure parts (noisy_labels, train_classifier, predict_labels, noise_experiment) compute numbers
without a display, so tests can check them.
"""
import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from .. import data
from .._guard import answer_key
from ..backend import array_namespace, to_host
from ..mlp import init_mlp, mlp_forward, mlp_loss
from ._base import Explorer, learner_or_reference

C = 10  # classes: the digits 0..9
TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the lesson's split of the digits into training and held-out parts
NOISE_MAX, NOISE_STEP = 1.0, 0.05  # the noise slider reaches 1, where the accuracy collapses to guessing


def _activations(weights):
    return ["tanh"] * (len(weights) - 1) + ["identity"]


@answer_key
def reference_classifier_grads(x, y, weights):
    """The reference for the lesson's exercise: the gradient of softmax cross-entropy of the MLP's logits."""
    return mlp_loss(weights, x, y, _activations(weights))[1]


def digits_split(split_seed=SPLIT_SEED):
    """The lesson's split: x_train (1438, 64), x_test (359, 64), y_train, y_test, on the host."""
    x, y = data.digits(backend="numpy")
    return data.train_test_split(x, y, TEST_FRACTION, split_seed)


def noisy_labels(y, noise, rng, classes=C):
    """y with a fraction ``noise`` of its labels (chosen at random) replaced by random labels 0..classes-1.

    A random label is the true one by chance 1 time in ``classes``, so about noise * (1 - 1/classes)
    of the labels end up wrong. For the examples of one class, the right label has the frequency
    1 - noise + noise / classes and each wrong one noise / classes: the right label stays the most
    frequent for every noise < 1, and only at noise = 1 is it as frequent as each wrong one (the labels
    then say nothing about the images)."""
    y = np.array(y, copy=True)
    picked = rng.choice(len(y), size=round(noise * len(y)), replace=False)
    y[picked] = rng.integers(0, classes, size=len(picked))
    return y


def train_classifier(classifier_grads, x, y, hidden=32, epochs=10, lr=0.1, batch_size=32, seed=0):
    """A tanh network [D, hidden, C] trained by minibatch SGD on classifier_grads(x, y, weights) -> weights."""
    rng = np.random.default_rng(seed)
    weights = init_mlp([x.shape[1], hidden, C], rng, backend=array_namespace(x).__name__)  # where x lives
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            for W, dW in zip(weights, classifier_grads(x[batch], y[batch], weights)):
                W -= lr * dW
    return weights


def predict_labels(weights, x):
    """The class with the largest logit, (N,) ints."""
    return to_host(mlp_forward(x, weights, _activations(weights))[0].argmax(axis=1))


def confusion_matrix(y, predicted, classes=C):
    """counts[i, j]: how many examples of class i were predicted as j; the diagonal is what is right."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(to_host(y)), np.asarray(to_host(predicted))), 1)
    return counts


def noise_experiment(classifier_grads, noise, split=None, seed=0, **training):
    """Train on the training labels with a fraction ``noise`` made random, test on the untouched held-out ones.

    -> dict: noise, labels_right (fraction of training labels still right), predicted (held-out labels),
       accuracy (held-out), confusion (10, 10)."""
    x_train, x_test, y_train, y_test = digits_split() if split is None else split
    y_noisy = noisy_labels(y_train, noise, np.random.default_rng(seed))
    weights = train_classifier(classifier_grads, x_train, y_noisy, seed=seed, **training)
    predicted = predict_labels(weights, x_test)
    return {
        "noise": noise,
        "labels_right": float((y_noisy == y_train).mean()),
        "predicted": predicted,
        "accuracy": float((predicted == y_test).mean()),
        "confusion": confusion_matrix(y_test, predicted),
    }


# ---------------------------------------------------------------------------------------------
# Pictures.


def _tiles(ax, images, titles, cols, color="black"):
    """8x8 images in a grid on one axes (fast: one image, not one axes per digit), each titled above."""
    ax.axis("off")
    if not len(images):
        return
    lines = max(t.count("\n") + 1 for t in titles)
    h, w = 8 + 2 * lines + 1, 10  # a tile: the digit, room for its title above, a gap
    rows = -(-len(images) // cols)
    canvas = np.full((rows * h, cols * w), np.nan)  # NaN: nothing drawn, the figure's white
    for k, (image, title) in enumerate(zip(images, titles)):
        top, left = (k // cols) * h + h - 8, (k % cols) * w + 1
        canvas[top : top + 8, left : left + 8] = image.reshape(8, 8)
        ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), 8, 8, fill=False, lw=0.6, ec="0.6"))
        ax.text(left + 3.5, top - 0.8, title, ha="center", va="bottom", fontsize=8, color=color)
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xlim(-0.5, cols * w - 0.5)
    ax.set_ylim(rows * h + 0.5, -0.5)  # a margin below, so the last row keeps its frame


def show_digits(x, y, count=20, cols=10):
    """The first ``count`` digits with their labels; returns the figure."""
    rows = -(-count // cols)
    fig, ax = plt.subplots(figsize=(9, 1.1 * rows))
    _tiles(ax, to_host(x[:count]), [f"{int(label)}" for label in to_host(y[:count])], cols)
    fig.subplots_adjust(0.01, 0.01, 0.99, 0.99)
    return fig


def plot_confusion(ax, counts):
    """counts (C, C) as an image with every nonzero count written in: the diagonal (what is right) in
    bold, on the dark cells in white, the numbers off it (the mistakes) in red."""
    shade = np.log1p(counts)
    ax.imshow(shade, cmap="Blues")
    dark = 0.6 * shade.max()
    for i, j in zip(*np.nonzero(counts)):
        if i == j:
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=6.5, fontweight="bold",
                    color="white" if shade[i, j] > dark else "black")
        else:
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color="crimson")
    ax.set_xticks(range(len(counts)))
    ax.set_yticks(range(len(counts)))
    ax.tick_params(labelsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def show_errors(x, y, predicted, count=14):
    """The first ``count`` misclassified digits ("true 3, said 8") beside the confusion matrix; returns the figure."""
    x, y, predicted = (np.asarray(to_host(a)) for a in (x, y, predicted))
    wrong = np.flatnonzero(predicted != y)[:count]
    fig, (ax_tiles, ax_matrix) = plt.subplots(1, 2, figsize=(9, 3.6), width_ratios=[2, 1])
    _tiles(ax_tiles, x[wrong], [f"true {y[n]}\nsaid {predicted[n]}" for n in wrong], cols=-(-count // 2),
           color="crimson")
    plot_confusion(ax_matrix, confusion_matrix(y, predicted))
    ax_matrix.set_title(f"{int((predicted != y).sum())} of {len(y)} held-out digits wrong", fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The widget.


def label_noise_explorer(classifier_grads=None, hidden=32, epochs=10, seed=0):
    """Slide the fraction of training labels replaced by random ones; a network is retrained (about a
    quarter of a second, then remembered) and tested on held-out digits whose labels are all right.

    Left: held-out accuracy against noise, for the levels tried so far, beside the fraction of training
    labels that are still right and the fraction that gives each wrong digit (they meet at noise = 1,
    where the labels say nothing: the slider reaches it). Right: the confusion matrix at the current noise.
    classifier_grads: yours (x, y, weights) -> grads, or None for the reference."""
    grads = learner_or_reference(classifier_grads or reference_classifier_grads, reference_classifier_grads,
                                 "classifier_grads")
    who = (lambda: grads.note) if classifier_grads is not None else (lambda: "using the reference classifier_grads")
    split = digits_split()
    levels = np.linspace(0.0, NOISE_MAX, 101)
    results = {}  # noise -> noise_experiment's dict

    def draw(fig, noise):
        noise = round(float(noise), 2)
        if noise not in results:
            results[noise] = noise_experiment(grads, noise, split, seed=seed, hidden=hidden, epochs=epochs)
        r = results[noise]
        ax_curve, ax_matrix = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        tried = sorted(results)
        ax_curve.plot(levels, 1 - levels * (1 - 1 / C), "--", color="gray", label="training labels right")
        ax_curve.plot(levels, levels / C, "-.", color="tab:orange", lw=1, label="... saying each wrong digit")
        ax_curve.plot(tried, [results[n]["accuracy"] for n in tried], "o-", color="tab:blue",
                      label="held-out accuracy")
        ax_curve.plot([noise], [r["accuracy"]], "o", ms=11, mfc="none", mec="crimson", mew=2)
        ax_curve.axhline(1 / C, color="gray", lw=0.8, ls=":")
        ax_curve.text(0.0, 1 / C + 0.015, "guessing", fontsize=8, color="gray")
        ax_curve.set(xlim=(-0.03, NOISE_MAX + 0.03), ylim=(0, 1.02), xlabel="noise: fraction of training labels made random",
                     ylabel="fraction")
        ax_curve.legend(loc="upper right", fontsize=8)
        plot_confusion(ax_matrix, r["confusion"])
        ax_matrix.set_title("held-out digits", fontsize=9)
        fig.tight_layout()
        M = len(split[3])
        return (f"held-out accuracy {r['accuracy']:.1%} ({round(r['accuracy'] * M)} of {M}), "
                f"training labels right {r['labels_right']:.1%}; {who()}")

    noise = widgets.FloatSlider(value=0.0, min=0.0, max=NOISE_MAX, step=NOISE_STEP, description="noise",
                                readout_format=".2f", continuous_update=False)
    return Explorer(draw, {"noise": noise}, figsize=(9, 3.5), css_class="bp-ocr-noise")
