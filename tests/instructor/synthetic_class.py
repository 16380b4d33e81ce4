"""A synthetic class for lesson 1 (one_weight_grad, 2 points; gradient_descent, 2 points): one student per
kind of submission the grader must survive, each with the score it must get and why.

Every student starts from the learner copy (exercises/), as a real learner does, and changes it the way
the case says. ``STUDENTS[name] = (notebook text or None, expected score, {test cell: reason fragment})``.
"""
import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / "exercises" / "01_one_weight" / "one_weight.ipynb"
NOTEBOOK = "one_weight.ipynb"
ASSIGNMENT = "01_one_weight"
GRAD_TEST, DESCENT_TEST = "one_weight_grad_dw", "gradient_descent_ws"

GRAD = "def one_weight_grad(w, x, t):\n    return np.mean((w * x - t) * x)\n"
DESCENT = ("def gradient_descent(w, x, t, lr, steps):\n    ws = [w]\n    for _ in range(steps):\n"
           "        w = w - lr * np.mean((w * x - t) * x)\n        ws.append(w)\n    return ws\n")
BLANK_GRAD = "def one_weight_grad(w, x, t):\n    raise NotImplementedError()\n"
BLANK_DESCENT = "def gradient_descent(w, x, t, lr, steps):\n    raise NotImplementedError()\n"


def release():
    return json.loads(RELEASE.read_text())


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _index(nb, grade_id):
    return next(i for i, c in enumerate(nb["cells"]) if _grade_id(c) == grade_id)


def notebook(grad=GRAD, descent=DESCENT, after_grad=(), after_descent=(), edit=None):
    """The learner copy with these answers, extra code cells after each answer cell, and ``edit(nb)``."""
    nb = release()
    for grade_id, source, extra in (("one_weight_grad", grad, after_grad), ("gradient_descent", descent, after_descent)):
        i = _index(nb, grade_id)
        nb["cells"][i]["source"] = source
        for k, code in enumerate(extra, start=1):
            nb["cells"].insert(i + k, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                       "source": code})
    if edit:
        edit(nb)
    return json.dumps(nb, indent=1)


def _delete_test(nb):
    del nb["cells"][_index(nb, GRAD_TEST)]


def _duplicate_test(nb):
    i = _index(nb, GRAD_TEST)
    nb["cells"].insert(i + 1, copy.deepcopy(nb["cells"][i]))


def _tests_become_pass(nb):
    for grade_id in (GRAD_TEST, DESCENT_TEST):
        nb["cells"][_index(nb, grade_id)]["source"] = "pass"


def _tests_become_markdown(nb):
    for grade_id in (GRAD_TEST, DESCENT_TEST):
        cell = nb["cells"][_index(nb, grade_id)]
        cell["cell_type"] = "markdown"
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _tests_renamed_as_answers(nb):
    """The test cells' metadata edited to say they are answers (solution), worth nothing."""
    for grade_id in (GRAD_TEST, DESCENT_TEST):
        meta = nb["cells"][_index(nb, grade_id)]["metadata"]["nbgrader"]
        meta.update(solution=True, grade=False, points=0)


def _gpu_switch_on(nb):
    cell = next(c for c in nb["cells"] if "USE_GPU = False" in "".join(c["source"]))
    cell["source"] = "".join(cell["source"]).replace("USE_GPU = False", "USE_GPU = True")


def _empty(nb):
    nb["cells"] = []


def _other_assignment():
    nb = json.loads((ROOT / "exercises" / "02_chain_rule" / "chain_rule.ipynb").read_text())
    return json.dumps(nb)


IPYTHON_HOOK = """
ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])
ip.events.register("pre_run_cell", lambda *a: None)
"""
INTERPRETER_HOOKS = """
import sys, atexit, builtins
sys.settrace(lambda *a: None)
sys.setprofile(lambda *a: None)
sys.excepthook = lambda *a: None
atexit.register(lambda: print("4/4"))
builtins.AssertionError = type("AssertionError", (Exception,), {})
"""
MONKEYPATCH = """
import builtins
import numpy
import backprop_ref.grading as grading
numpy.allclose = lambda *a, **k: True
numpy.abs = lambda x: 0 * x
builtins.abs = lambda x: 0
grading.check = lambda *a, **k: None
"""
WRONG_GRAD = "def one_weight_grad(w, x, t):\n    return 0.0\n"
WRONG_DESCENT = "def gradient_descent(w, x, t, lr, steps):\n    return [w] * (steps + 1)\n"
DELEGATE_GRAD = ("def one_weight_grad(w, x, t):\n    from backprop_ref.widgets import one_weight\n"
                 "    return one_weight.derivative(w, x, t)\n")
DELEGATE_DESCENT = ("def gradient_descent(w, x, t, lr, steps):\n    from backprop_ref.widgets import one_weight\n"
                    "    return one_weight.reference_gradient_descent(w, x, t, lr, steps)\n")
UNWRAP_GRAD = '''def one_weight_grad(w, x, t):
    import gc, inspect
    from backprop_ref.widgets import one_weight
    for f in gc.get_objects():  # the function inside the answer-key guard, by its closure
        if callable(f) and getattr(f, "__name__", "") == "derivative":
            for c in getattr(f, "__closure__", None) or ():
                if callable(c.cell_contents):
                    try:
                        return c.cell_contents(w, x, t)
                    except Exception:
                        pass
    source = inspect.getsource(one_weight).replace("@answer_key", "")
    namespace = {"__name__": one_weight.__name__, "__package__": one_weight.__package__}
    exec(compile(source, one_weight.__file__, "exec"), namespace)  # the module again, without the guard
    return namespace["derivative"](w, x, t)
'''
READ_SOLUTIONS = f'''def one_weight_grad(w, x, t):
    import json, pathlib, backprop_ref
    for folder in [pathlib.Path(backprop_ref.__file__).parents[1], pathlib.Path({str(ROOT)!r})]:
        path = folder / "solutions" / "01_one_weight" / "one_weight.ipynb"
        if path.exists():
            cells = json.loads(path.read_text())["cells"]
            namespace = {{"np": np}}
            exec("".join(cells[7]["source"]), namespace)
            return namespace["one_weight_grad"](w, x, t)
    raise FileNotFoundError("no solutions to be found")
'''


def read_others(submitted):
    return f'''def one_weight_grad(w, x, t):
    import glob, json
    for path in glob.glob({str(submitted)!r} + "/*/01_one_weight/*.ipynb") + glob.glob("../../*/01_one_weight/*.ipynb"):
        namespace = {{"np": np}}
        exec("".join(json.loads(open(path).read())["cells"][7]["source"]), namespace)
        return namespace["one_weight_grad"](w, x, t)
    raise FileNotFoundError("no other submission to be found")
'''


def write_gradebook(db_path):
    return f'''
import sqlite3
for attempt in (lambda: open({str(db_path)!r}, "w").write("gone"),
                lambda: sqlite3.connect({str(db_path)!r}).execute("DELETE FROM grade")):
    try:
        attempt()
    except Exception as e:
        print("refused:", type(e).__name__)
'''


LEAVE_PROCESSES = """
import os, subprocess, threading, time
subprocess.Popen(["sleep", "1000"], start_new_session=True)
threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()
if os.fork() == 0:
    os.setsid()
    time.sleep(1000)
"""
STDERR_GRAD = ("def one_weight_grad(w, x, t):\n    import sys, warnings\n    print('debug', file=sys.stderr)\n"
               "    warnings.warn('a warning of my own')\n    return np.mean((w * x - t) * x)\n")
LONG_DESCENT = """def gradient_descent(w, x, t, lr, steps):
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    history = [float(w)]
    current = float(w)
    for step in range(int(steps)):
        error = current * x - t
        slope = np.sum(error * x) / len(x)
        current = current - lr * slope
        history.append(current)
    return np.array(history)
"""
DISGUISED_COPY = """def gradient_descent(w, x, t, lr, steps):
    '''My own descent.'''
    inputs = np.asarray(x, dtype=float)   # the inputs
    targets = np.asarray(t, dtype=float)
    visited = [float(w)]
    weight = float(w)
    for k in range(int(steps)):
        e = weight * inputs - targets
        g = np.sum(e * inputs) / len(inputs)  # the slope
        weight = weight - lr * g
        visited.append(weight)
    return np.array(visited)
"""
STUBBORN_LOOP = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"


def students(submitted, db_path):
    """{student: (notebook text, or None for no notebook, expected score, {test cell: reason fragment})}."""
    not_written = "is not written yet"
    return {
        "correct": (notebook(), 4, {}),
        "blank": (notebook(BLANK_GRAD, BLANK_DESCENT), 0, {GRAD_TEST: not_written, DESCENT_TEST: not_written}),
        "no_mean": (notebook(grad="def one_weight_grad(w, x, t):\n    return np.sum((w * x - t) * x)\n"), 2,
                    {GRAD_TEST: "the 1/N is missing"}),
        "endless_loop": (notebook(descent="def gradient_descent(w, x, t, lr, steps):\n    while True:\n        pass\n"), 2,
                         {DESCENT_TEST: "did not finish within 10 s"}),
        "stubborn_loop_cell": (notebook(after_descent=[STUBBORN_LOOP]), 4, {}),
        "exit_cell": (notebook(after_grad=["import os\nos._exit(0)"]), 4, {}),
        "exit_in_function": (notebook(grad="def one_weight_grad(w, x, t):\n    import os\n    os._exit(1)\n"), 2,
                             {GRAD_TEST: "ended the process"}),
        "kill_parent": (notebook(after_grad=["import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"]), 4, {}),
        "kill_group": (notebook(after_descent=["import os, signal\nos.killpg(0, signal.SIGKILL)"]), 4, {}),
        "memory_bomb": (notebook(grad="def one_weight_grad(w, x, t):\n    big = np.ones(10**11)\n    return big.sum()\n"),
                        2, {GRAD_TEST: "MemoryError"}),
        "fork_bomb": (notebook(after_descent=[FORK_BOMB]), 4, {}),
        "syntax_error": (notebook(grad="def one_weight_grad(w, x, t)\n    return np.mean((w * x - t) * x)\n"), 2,
                         {GRAD_TEST: "one_weight_grad is not defined"}),
        "deleted_test": (notebook(edit=_delete_test), 4, {}),
        "duplicated_test": (notebook(edit=_duplicate_test), 4, {}),
        "tests_edited_to_pass": (notebook(BLANK_GRAD, BLANK_DESCENT, edit=_tests_become_pass), 0, {GRAD_TEST: not_written}),
        "tests_made_markdown": (notebook(BLANK_GRAD, BLANK_DESCENT, edit=_tests_become_markdown), 0,
                                {GRAD_TEST: not_written}),
        "tests_called_answers": (notebook(BLANK_GRAD, BLANK_DESCENT, edit=_tests_renamed_as_answers), 0,
                                 {GRAD_TEST: not_written}),
        "ipython_hook": (notebook(BLANK_GRAD + IPYTHON_HOOK, BLANK_DESCENT), 0, {GRAD_TEST: not_written}),
        "interpreter_hooks": (notebook(BLANK_GRAD + INTERPRETER_HOOKS, BLANK_DESCENT), 0, {GRAD_TEST: not_written}),
        "monkeypatch": (notebook(WRONG_GRAD + MONKEYPATCH, WRONG_DESCENT), 0, {GRAD_TEST: "dw is wrong"}),
        "delegate": (notebook(DELEGATE_GRAD, DELEGATE_DESCENT), 0,
                     {GRAD_TEST: "reference answer", DESCENT_TEST: "reference answer"}),
        "unwrap": (notebook(UNWRAP_GRAD, BLANK_DESCENT), 0, {GRAD_TEST: "reference answer"}),
        "read_solutions": (notebook(READ_SOLUTIONS, BLANK_DESCENT), 0, {GRAD_TEST: "no solutions to be found"}),
        "read_others": (notebook(read_others(submitted), BLANK_DESCENT), 0, {GRAD_TEST: "no other submission"}),
        "write_gradebook": (notebook(BLANK_GRAD, BLANK_DESCENT, after_grad=[write_gradebook(db_path)]), 0,
                            {GRAD_TEST: not_written}),
        "leave_processes": (notebook(after_descent=[LEAVE_PROCESSES]), 4, {}),
        "prints_to_stderr": (notebook(grad=STDERR_GRAD), 4, {}),
        "gpu_switch_on": (notebook(edit=_gpu_switch_on), 4, {}),
        "original": (notebook(descent=LONG_DESCENT), 4, {}),
        "copier": (notebook(descent=DISGUISED_COPY), 4, {}),
        "invalid_json": ('{"cells": [', 0, {GRAD_TEST: "not a notebook that Jupyter can open"}),
        "empty_notebook": (notebook(edit=_empty), 0, {GRAD_TEST: "has no code of yours"}),
        "other_assignment": (_other_assignment(), 0, {GRAD_TEST: "none of its cells are those of one_weight.ipynb"}),
        "nothing_submitted": (None, 0, {GRAD_TEST: "one_weight.ipynb was not submitted"}),
    }


def write_class(submitted, cases):
    """Each student's folder, nbgrader's layout: <submitted>/<student>/01_one_weight/one_weight.ipynb."""
    for student, (text, *_) in cases.items():
        folder = Path(submitted) / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        if text is not None:
            (folder / NOTEBOOK).write_text(text)
