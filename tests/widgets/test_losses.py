"""The lesson 4 widget: naive and stable softmax cross-entropy on its status line, computed here."""
import re

import ipywidgets as widgets
import numpy as np
import pytest

from backprop_ref.widgets import losses


def _loss(status, which):
    return float(re.search(which + r" loss = (\S+?)[, ]", status + " ").group(1))


def _stable_by_hand(scale):
    """-log softmax(z)[y] = logsumexp(z) - z[y], with the max taken out of the exp."""
    z = scale * np.array([1.0, 0.5, -1.0])
    return z.max() + np.log(np.exp(z - z.max()).sum()) - z[1]


def test_the_first_control_is_a_slider():
    assert isinstance(next(iter(losses.overflow().controls.values())), widgets.FloatLogSlider)


@pytest.mark.parametrize("scale", [1.0, 10.0, 158.48931924611142, 700.0])
def test_below_the_overflow_both_losses_agree(scale):
    w = losses.overflow()
    w.controls["scale"].value = scale
    status = w.status.value
    assert status.startswith(f"scale = {scale:#.3g} | ")  # as the browser shows it: 10.0, not 10
    assert _loss(status, "stable") == pytest.approx(_stable_by_hand(scale), rel=1e-3)
    assert _loss(status, "naive") == pytest.approx(_stable_by_hand(scale), rel=1e-3)


@pytest.mark.parametrize("scale", [710.0, 1000.0])
def test_past_710_the_naive_loss_breaks_and_the_stable_one_does_not(scale):
    w = losses.overflow()  # RuntimeWarnings are errors in this test suite: the widget must silence its own
    w.controls["scale"].value = scale
    status = w.status.value
    assert not np.isfinite(_loss(status, "naive")) and "overflowed" in status
    assert _loss(status, "stable") == pytest.approx(_stable_by_hand(scale), rel=1e-3)


def test_loss_curves_break_where_exp_overflows():
    scales = np.array([1.0, 100.0, 709.0, 709.9, 900.0])
    naive, stable = losses.loss_curves(scales)
    assert np.isfinite(naive[:3]).all() and not np.isfinite(naive[3:]).any()
    assert np.allclose(naive[:3], stable[:3])
    assert np.allclose(stable, [_stable_by_hand(s) for s in scales])
