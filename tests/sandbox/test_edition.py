"""The learner edition of backprop_ref: forward passes and data are there; no answer is, to call or to read."""
import ast
import gzip
import io
import tokenize

import numpy as np

import backprop_ref
from backprop_ref import data
from backprop_ref.sandbox.edition import PACKAGE, strip_answers


def _answer_keys(source):
    return [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef)
            and any(getattr(d, "id", getattr(d, "attr", None)) == "answer_key" for d in n.decorator_list)]


def test_every_answer_key_loses_its_body_and_docstring(edition):
    stripped = 0
    for source_file in PACKAGE.rglob("*.py"):
        relative = source_file.relative_to(PACKAGE)
        copy = edition / "backprop_ref" / relative
        keys = _answer_keys(source_file.read_text())
        if not keys or not copy.exists():
            continue
        text = copy.read_text()
        for node in _answer_keys(text):
            assert len(node.body) == 2 and isinstance(node.body[-1], ast.Raise), f"{relative}: {node.name} has a body"
            assert ast.get_docstring(node) is None
            stripped += 1
        comments = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]
        assert not comments, f"{relative} keeps comments: {comments[:2]}"
    assert stripped >= 25  # the reference answers of every exercise, widgets' helpers included


def test_widget_helpers_that_compute_answers_are_answer_keys():
    from backprop_ref import engine, fixed_point as fixed_point_reference
    from backprop_ref.widgets import (backprop_through_time, chain_rule, fixed_point, ocr, one_weight, static_backprop,
                                      what_backprop_is_not)

    keys = {
        one_weight: ["derivative", "reference_gradient_descent"],
        chain_rule: ["graph_backward_reference", "graph_values"],
        static_backprop: ["reference_mlp_backward"],
        ocr: ["reference_classifier_grads"],
        backprop_through_time: ["last_state_gradient_norms", "influence", "reference_bptt", "reference_truncated_bptt",
                                "full_and_windowed"],
        fixed_point_reference: ["fixed_point_forward"],
        fixed_point: ["relaxation_changes", "reference_relax", "reference_fixed_point_backward", "bptt_dW"],
        engine: ["topological_order", "backprop"],
        what_backprop_is_not: ["reference_per_example_grads", "reference_predicted_spread"],
    }
    for module, names in keys.items():
        marked = [n.name for n in _answer_keys(open(module.__file__).read())]
        for name in names:
            assert name in marked, f"{module.__name__}.{name}"


def test_strip_answers_keeps_everything_else():
    source = "@answer_key\ndef f(x):\n    '''f = x + 1'''\n    return x + 1  # the answer\n\ndef g(x):\n    return f(x) * 2\n"
    out = strip_answers(source)
    assert "x + 1" not in out and "the answer" not in out and "return f(x) * 2" in out and "DelegationError" in out


def test_grading_and_the_graders_own_modules_are_left_out(edition):
    copy = edition / "backprop_ref"
    assert not (copy / "grading" / "exercises").exists() and not (copy / "instructor").exists()
    assert not (copy / "sandbox" / "bubblewrap.py").exists() and not (copy / "cli.py").exists()
    assert "def check" in (copy / "grading" / "__init__.py").read_text()
    assert (copy / "sandbox" / "inside.py").exists() and (copy / "data" / "LICENSE-digits.txt").exists()


def test_the_held_out_digits_are_not_in_the_edition(edition):
    with gzip.open(edition / "backprop_ref" / "data" / "digits.csv.gz", "rt") as f:
        shipped = np.loadtxt(f, delimiter=",")
    x_public, y_public, x_held_out, y_held_out = data.digits_for_grading()
    assert shipped.shape == (len(y_public), 65)
    rows = {tuple(r) for r in shipped}
    held_out = np.hstack([x_held_out * 16, y_held_out[:, None]])
    assert not any(tuple(r) in rows for r in held_out)
    np.testing.assert_array_equal(shipped[:, 64], y_public)


def test_the_edition_imports_and_refuses_answers_in_the_sandbox(cell):
    text, error = cell(
        "import inspect, numpy as np, backprop_ref as bp\n"
        "x = np.ones((2, 3)); W = np.ones((4, 2))\n"
        "out, cache = bp.dense_forward(x, W)\n"
        "print(out.sum(), len(bp.data.digits()[1]))\n"
        "print('dx = dout' in inspect.getsource(bp.layers.dense_backward))\n"
        "from backprop_ref.grading import DelegationError\ntry:\n    bp.dense_backward(out, cache)\nexcept DelegationError as e:\n    print('refused')\n"
        "import backprop_ref.grading\n")
    assert error is None, error
    assert text.split() == [str(8.0 * 2), str(len(data.digits_for_grading()[1])), "False", "refused"]
    assert backprop_ref.__file__ not in text


def test_an_edition_is_kept_while_the_package_is_unchanged_and_rebuilt_otherwise(tmp_path):
    from backprop_ref.sandbox.edition import build_edition

    folder = build_edition(tmp_path / "edition")
    marker = folder / "backprop_ref" / "left-by-an-earlier-build"
    marker.write_text("")
    build_edition(folder)
    assert marker.exists()  # the same package: nothing rebuilt
    (folder / "STAMP").write_text("the edition of another version")
    build_edition(folder)
    assert not marker.exists() and (folder / "backprop_ref" / "layers.py").exists()
