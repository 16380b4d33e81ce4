"""Grade with the numpy, builtins and backprop_ref that were there at import time.

A learner's answer cell can rebind anything (``np.allclose = lambda *a, **k: True``,
``builtins.abs = ...``, ``backprop_ref.layers.dense_forward = ...``). ``pristine()`` puts the
originals back for the length of a check and then restores the learner's versions, so their
notebook is left as they made it and the verdict is computed with the real functions.
"""
import builtins
import contextlib
import sys

import numpy
import numpy.linalg
import numpy.random
import numpy.testing

_snapshots = {}


def take_snapshot():
    """Remember every attribute of the modules the grader relies on (called once, at import)."""
    modules = [builtins, numpy, numpy.testing, numpy.linalg, numpy.random]
    modules += [m for name, m in list(sys.modules.items()) if m is not None and name.split(".")[0] == "backprop_ref"]
    for module in modules:
        _snapshots.setdefault(module, dict(vars(module)))


@contextlib.contextmanager
def pristine():
    """Within the block, the snapshot's attributes are back; afterwards, the learner's again."""
    undo = []
    for module, snapshot in _snapshots.items():
        current = vars(module)
        for name, original in snapshot.items():
            value = current.get(name, _missing)
            if value is not original:
                undo.append((current, name, value))
                current[name] = original
    try:
        yield
    finally:
        for current, name, value in reversed(undo):
            if value is _missing:
                del current[name]
            else:
                current[name] = value


_missing = object()
