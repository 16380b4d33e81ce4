"""Lesson 4 widget: softmax cross-entropy computed naively overflows; the log-sum-exp form never does."""
import ipywidgets as widgets
import numpy as np

from ..activations import softmax
from ..losses import softmax_cross_entropy
from ._base import Explorer

LOGITS = np.array([1.0, 0.5, -1.0])  # one example's logits at scale 1; the largest is 1
LABEL = 1  # not the largest logit, so the loss grows with the scale instead of vanishing
OVERFLOW = float(np.log(np.finfo(np.float64).max))  # exp(z) is inf for z above about 709.78


def naive_softmax_ce(logits, y):
    """-(1/N) sum log p[n, y[n]] with p = exp(z) / sum(exp(z)), no max subtracted: inf / inf = nan for big z.

    logits: (N, C), y: (N,) labels -> (loss, p (N, C)). NumPy's overflow warnings are silenced here:
    the nan is what this function is meant to show.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        loss = float(-np.log(p[np.arange(len(y)), y]).mean())
    return loss, p


def stable_softmax_ce(logits, y):
    """The same loss as logsumexp(z) - z[y], the reference's way: (loss, p), finite for any finite logits."""
    return softmax_cross_entropy(logits, y)[0], softmax(logits)


def loss_curves(scales):
    """Naive and stable losses of the logits LOGITS * s for each scale s: two arrays shaped like scales."""
    y = np.array([LABEL])
    naive = np.array([naive_softmax_ce(s * LOGITS[None], y)[0] for s in scales])
    stable = np.array([stable_softmax_ce(s * LOGITS[None], y)[0] for s in scales])
    return naive, stable


def _number(v):
    return f"{v:.4g}" if np.isfinite(v) else str(v)


def overflow():
    """Scale one example's logits up to 1000 and watch the naive softmax cross-entropy break at ~710.

    Left: both losses against the scale (log axes), the current scale marked. Right: the probabilities
    each computes at that scale. Subtracting the row's max before exp changes nothing mathematically
    (the softmax of z - c is the softmax of z) and keeps every exp at most 1.
    """
    scales = np.logspace(0, 3, 200)
    naive_curve, stable_curve = loss_curves(scales)
    y = np.array([LABEL])

    def draw(fig, scale):
        logits = scale * LOGITS[None]
        naive, p_naive = naive_softmax_ce(logits, y)
        stable, p_stable = stable_softmax_ce(logits, y)
        ax, ax_p = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        ax.loglog(scales, stable_curve, color="tab:green", lw=4, alpha=0.5, label="stable (log-sum-exp)")
        ax.loglog(scales, naive_curve, "k--", lw=1.2, label="naive exp(z) / sum exp(z)")
        ax.axvline(OVERFLOW / LOGITS.max(), color="tab:red", lw=0.8)
        ax.text(OVERFLOW / LOGITS.max(), 0.3, " exp overflows ", color="tab:red", ha="right", fontsize=8)
        ax.plot(scale, stable, "o", color="tab:green")
        if np.isfinite(naive):
            ax.plot(scale, naive, "k.")
        ax.set(xlabel="scale s (logits = s * [1, 0.5, -1])", ylabel=f"loss, label y = {LABEL}",
               title="softmax cross-entropy", ylim=(0.2, 2000))
        # plain tick labels: log axes' default 10^k labels are mathtext, slow to draw on every change
        ax.set_xticks([1, 10, 100, 1000], labels=["1", "10", "100", "1000"])
        ax.set_yticks([1, 10, 100, 1000], labels=["1", "10", "100", "1000"])
        ax.minorticks_off()
        ax.legend(loc="upper left", fontsize=8)

        classes = np.arange(len(LOGITS))
        ax_p.bar(classes - 0.2, p_stable[0], width=0.4, color="tab:green", label="stable")
        ax_p.bar(classes + 0.2, np.nan_to_num(p_naive[0], nan=0.0), width=0.4, color="0.3", label="naive")
        for c, p in zip(classes, p_naive[0]):
            if not np.isfinite(p):
                ax_p.text(c + 0.2, 0.05, "nan", ha="center", rotation=90, fontsize=8)
        ax_p.set(xticks=classes, xlabel="class", ylabel="p", ylim=(0, 1.05), title="probabilities p")
        ax_p.legend(loc="upper right", fontsize=8)
        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.16, top=0.9, wspace=0.3)
        broke = f" (exp({logits.max():.0f}) overflowed to inf)" if not np.isfinite(naive) else ""
        return f"naive loss = {_number(naive)}{broke}, stable loss = {_number(stable)}"

    controls = {"scale": widgets.FloatLogSlider(value=10.0, base=10, min=0, max=3, step=0.02, description="scale",
                                                readout_format=".3g", continuous_update=False)}
    return Explorer(draw, controls, figsize=(9, 3.5), css_class="bp-overflow")
