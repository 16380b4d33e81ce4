"""The lessons' widgets: each one lets a learner move something and see backprop answer.

One module per lesson; each widget is a function that returns a box to display (put the call last
in a cell). They take the learner's own functions where a lesson has them write one, and say so
plainly when that function is not written yet. Shared parts are in ``_base``:

- ``Explorer``: controls above a matplotlib figure that is redrawn on every change, with a status
  line (CSS class ``bp-status``) saying what was drawn; the browser tests read that line.
- ``autograding()``: True while nbgrader executes a notebook, so lessons train briefly then.
"""
from ._base import Explorer, autograding, learner_or_reference

__all__ = ["Explorer", "autograding", "learner_or_reference"]
