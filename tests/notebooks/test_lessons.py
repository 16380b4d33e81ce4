"""What the lessons say: the learner's docstrings give the contract, not the formula; the text derives the formula
and offers hints to open on purpose; each lesson's "Next" names the lesson that follows; the claims of lessons 5
and 7 match what their widgets do."""
import ast
import re

import pytest

from course_notebooks import EXERCISES, SOLUTIONS, is_answer_cell, nbgrader, notebooks, read

LESSONS = notebooks(SOLUTIONS)

# The harder exercises whose docstrings used to hand out the answer, with what the lesson's text must have derived
# (LaTeX as the markdown writes it) before the first hint.
HARDER = {
    "graph_backward": ("02_chain_rule", [r"\frac{\partial f}{\partial q} &= \frac{\partial f}{\partial s}\; s\,(1 - s)",
                                         r"\frac{\partial f}{\partial x} = \underbrace", r"\texttt{dq} = \texttt{ds}"]),
    "dense_backward": ("03_dense_layer", [r"dW = \tilde x^{\top} \text{dout}", r"dx = \text{dout}\; W_{[:D]}^{\top}"]),
    "mlp_backward": ("05_static_backprop", [r"dz^{(l)} = da^{(l)} \odot", r"dW^{(l)} = [\,a^{(l-1)},\ 1\,]^\top\, dz^{(l)}",
                                            r"da^{(l-1)} = dz^{(l)}\,"]),
    "classifier_grads": ("07_ocr", [r"dz^{(L)} = \frac{\partial L}{\partial z^{(L)}} = \frac{P - Y}{N}",
                                    r"dW^{(l)} = [\,a^{(l-1)},\ 1\,]^\top dz^{(l)}", r"dz^{(l-1)} = \big(dz^{(l)}"]),
    "truncated_bptt": ("08_backprop_through_time", [r"g^{(s)}_{t-1} = \big(g^{(s)}_t \odot (1 - h_t^2)\big)\, W_h^\top",
                                                    r"\max(s-k+1,\ 0)", r"is when $s < k$"]),
    "fixed_point_backward": ("09_fixed_point", [r"\lambda = \texttt{ds} + (\lambda \odot f'(z^*))\, W^\top",
                                                r"\delta = \lambda \odot f'(z^*)", r"dW = s^{*\top} \delta"]),
    "jacobian": ("10_jacobians", [r"e_c^\top J = J_{c,:}", r"J_{n,c,:} = e_c^\top J_n"]),
    "per_example_grads": ("11_what_backprop_is_not", [r"\delta_n = p_n - Y_n", r"= \tilde x_{ni}\, \delta_{nj}",
                                                       r"G_n = \tilde x_n^{\top} \delta_n"]),
}

# A docstring that gives a formula for the answer: a matrix product or a transpose, a sum, a power, the factors
# 1 - a or 1 - s, a gradient assigned (dz = ..., dW = ...), W[:-1], a softmax written out, a division by N.
FORMULA = re.compile(r"@|\.T\b|\bsum|\*\*|\b1 -|\bd[a-z_]\w*\s*=(?!=)|\[:-1\]|\bexp\(|softmax\(|one-hot|/ ?N\b")


def _notebook(folder, lesson):
    (path,) = (folder / lesson).glob("*.ipynb")
    return read(path)


def _answer_cell(nb, exercise_id):
    (index,) = [i for i, c in enumerate(nb.cells) if is_answer_cell(c) and nbgrader(c)["grade_id"] == exercise_id]
    return index


def _docstring(source, name):
    (fn,) = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name]
    return ast.get_docstring(fn)


@pytest.mark.parametrize("folder", [EXERCISES, SOLUTIONS], ids=["learner copy", "solution"])
@pytest.mark.parametrize("exercise_id", HARDER)
def test_harder_exercises_docstrings_give_the_contract_not_the_formula(exercise_id, folder):
    lesson, _ = HARDER[exercise_id]
    nb = _notebook(folder, lesson)
    source = nb.cells[_answer_cell(nb, exercise_id)].source
    doc = _docstring(source, exercise_id)
    assert doc, f"{lesson}: {exercise_id} has no docstring"
    found = FORMULA.findall(doc)
    assert not found, f"{lesson}: {exercise_id}'s docstring gives the formula away ({found}):\n{doc}"
    assert re.search(r"\((N|R), [A-Z]", doc) and "->" in doc, f"{exercise_id}: the docstring must still give the shapes"
    assert "unchanged" in doc, f"{exercise_id}: the contract says what comes back unchanged"
    if folder is EXERCISES:
        assert "raise NotImplementedError()" in source and "### BEGIN SOLUTION" not in source


def _details(text):
    """[(summary, body)] of the <details> blocks of a markdown cell."""
    return re.findall(r"<details><summary>(.*?)</summary>(.*?)</details>", text, flags=re.S)


@pytest.mark.parametrize("exercise_id", HARDER)
def test_the_text_derives_the_formula_then_offers_graded_hints(exercise_id):
    lesson, derived = HARDER[exercise_id]
    nb = _notebook(EXERCISES, lesson)
    answer = _answer_cell(nb, exercise_id)
    # this exercise's hints: those after the answer cell before it (an earlier exercise may have hints of its own)
    after = max([i for i, c in enumerate(nb.cells[:answer]) if is_answer_cell(c)], default=-1) + 1
    hint_cells = [i for i, c in enumerate(nb.cells[:answer]) if i >= after and c.cell_type == "markdown"
                  and "<details>" in c.source]
    assert hint_cells, f"{lesson}: no <details> hint between the previous answer cell and {exercise_id}'s"
    first_hint = hint_cells[0]
    text = "\n".join(c.source for c in nb.cells[:first_hint] if c.cell_type == "markdown")
    for formula in derived:
        assert formula in text, f"{lesson}: the text before the hints does not derive {formula!r}"
    hints = [d for i in hint_cells for d in _details(nb.cells[i].source)]
    assert sum(c.source.count("<details>") for c in nb.cells[after:answer]) == len(hints), "every <details> is closed"
    assert len(hints) >= 2, f"{lesson}: graded hints, from a nudge to nearly the answer"
    for k, (summary, body) in enumerate(hints, 1):
        assert summary.startswith(f"Hint {k}: "), f"{lesson}: hint {k} is titled {summary!r}"
        assert body.startswith("\n\n") and body.endswith("\n\n"), \
            "blank lines around a hint's body, so that JupyterLab renders its markdown and math"
    assert "nearly the answer" in hints[-1][0]


def _title(nb):
    return re.match(r"# (\d+)\. (.+)", nb.cells[0].source).groups()


def _next(nb):
    last = [c.source for c in nb.cells if c.cell_type == "markdown"][-1]
    found = re.search(r"\*\*Next\*\*.*", last, flags=re.S)
    assert found, f"lesson {_title(nb)[0]}: its last cell has no **Next**"
    return found.group(0)


@pytest.mark.parametrize("index", range(len(LESSONS)), ids=[p.parent.name for p in LESSONS])
def test_next_names_the_lesson_that_follows(index):
    nb = read(LESSONS[index])
    number, _ = _title(nb)
    assert int(number) == index + 1
    text = _next(nb)
    named = {int(n) for n in re.findall(r"\blesson (\d+)", text)}
    assert not re.search(r"\]\(|\.ipynb", text), f"lesson {number}: Next links to a notebook: {text!r}"
    if index + 1 < len(LESSONS):
        following = read(LESSONS[index + 1])
        assert named == {index + 2}, f"lesson {number}: Next names lessons {sorted(named)}: {text!r}"
        _, title = _title(following)
        stems = {word[:4] for word in re.findall(r"\w{5,}", title.lower())}  # "losses" -> "loss"
        assert any(stem in text.lower() for stem in stems), \
            f"lesson {number}: Next should say what lesson {index + 2} is ({title}): {text!r}"
    else:
        assert not named, f"the last lesson's Next names a lesson that does not exist: {text!r}"
        assert "the last lesson of the course" in " ".join(text.split()), \
            f"the last lesson's Next should say the course ends there: {text!r}"


def _markdown(lesson):
    return "\n".join(c.source for c in _notebook(SOLUTIONS, lesson).cells if c.cell_type == "markdown")


def test_lesson_7_says_when_label_noise_really_collapses_the_accuracy():
    text = _markdown("07_ocr")
    assert "outnumber" not in text, "accuracy does not collapse when wrong labels outnumber right ones"
    assert r"1 - \text{noise} + \frac{\text{noise}}{10} = 1 - 0.9\,\text{noise}" in text
    assert "every** noise below 1" in text and "**each** wrong" in text
    assert "Only at noise = 1 is the right label as frequent as each wrong one" in text
    assert "At `noise = 0.9`, 81% of the training labels are wrong" in text  # 0.9 * 0.9
    assert "numbers on the\ndiagonal only" in text and "diagonal (in bold)" in text
    from backprop_ref.widgets import ocr

    assert ocr.NOISE_MAX == 1.0  # "Move on to 0.95 and 1": the slider gets there
    assert "Move on to 0.95 and 1" in text and round(0.95 / ocr.NOISE_STEP, 9).is_integer()


def test_lesson_5_trains_with_what_has_been_taught_and_depth_is_a_choice():
    from backprop_ref.widgets import static_backprop

    text = _markdown("05_static_backprop")
    code = "\n".join(c.source for c in _notebook(SOLUTIONS, "05_static_backprop").cells if c.cell_type == "code")
    assert "hidden layer II" not in text + code, "a network is not input, hidden, hidden II, output: depth is a choice"
    assert "as many hidden layers as you choose" in " ".join(text.split())
    trainer = text[text.index("## Watch your backward pass learn two spirals"):text.index("## Going further")]
    assert "Adam" not in trainer and "gradient descent" in trainer and "lesson 6" in trainer
    # the prompts' numbers are the widget's: the lr to raise to is on the slider, a new network starts at LR
    widget = static_backprop.spiral_trainer(lambda x, weights, dout: static_backprop.reference_mlp_backward(x, weights, dout))
    raised = float(re.search(r"Raise `lr` to ([\d.]+)", trainer).group(1))
    assert static_backprop.LR < raised <= widget.controls["lr"].max
    assert float(re.search(r"`lr` back at ([\d.]+)", trainer).group(1)) == static_backprop.LR
    assert f"({static_backprop.EPOCHS_PER_TICK} epochs per step)" in trainer
