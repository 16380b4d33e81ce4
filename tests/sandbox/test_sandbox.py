"""The sandbox: what the learner's code can see, what it cannot do, and how the grader survives it."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

from backprop_ref.grading import grade
from backprop_ref.grading.core import GradingTimeout, LearnerProcessEnded, _time_limit, learner_code_elsewhere
from backprop_ref.sandbox.bubblewrap import COURSE, MAX_RESTARTS, python_paths

ROOT = Path(__file__).resolve().parents[2]


def sandbox_processes(sandbox):
    """Processes of the sandbox's own user id (as root every sandbox has one), seen from outside."""
    uid = 2_000_000 + os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                found.append(entry.name)
        except FileNotFoundError:
            pass
    return found


def test_cells_run_in_order_and_their_outputs_come_back(cell):
    assert cell("x = 20\nprint('hello')") == ("hello\n", None)
    assert cell("print(x + 1)") == ("21\n", None)
    _, error = cell("1 / 0")
    assert error["ename"] == "ZeroDivisionError" and "division by zero" in error["evalue"]
    text, error = cell("def broken(:\n    pass")
    assert error["ename"] == "SyntaxError"


def test_results_and_displays_are_text_only(sandbox):
    outputs = sandbox.run_cell("import matplotlib.pyplot as plt\nfrom IPython.display import display, HTML\n"
                               "display(HTML('<script>alert(1)</script>'))\nplt.plot([1, 2]); plt.show()\n41 + 1", 30)
    kinds = [(o["output_type"], o.get("data", {}).get("text/plain", "")) for o in outputs]
    assert ("execute_result", "42") in kinds
    assert all(set(o.get("data", {"text/plain": ""})) == {"text/plain"} for o in outputs)
    assert not any("<script>" in str(o) and o.get("data", {}).get("text/html") for o in outputs)


def test_the_learner_sees_no_course_no_home_no_network(cell, submission):
    (submission / "data.txt").write_text("mine")
    (submission / "data.txt").chmod(0o644)
    code = f"""
import os, socket
seen = {{
    "uid": os.getuid(),
    "course": os.path.exists({str(COURSE / "solutions")!r}),
    "tests": os.path.exists({str(ROOT / "tests")!r}),
    "root_home": os.path.exists("/root/.bashrc") or os.path.exists("/root/.ssh"),
    "tmp": os.listdir("/tmp"),
    "mine": open("data.txt").read(),
    "dirs": sorted(os.listdir("/")),
}}
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
    seen["network"] = True
except OSError:
    seen["network"] = False
print(seen)
"""
    text, error = cell(code)
    assert error is None, error
    seen = eval(text)
    # as root, a user id of its own; otherwise the caller's own, in a user namespace of its own
    assert seen["uid"] != 0 and (seen["uid"] != os.getuid() if os.geteuid() == 0 else True)
    assert not seen["course"] and not seen["tests"] and not seen["root_home"] and not seen["network"]
    assert seen["mine"] == "mine"
    python_under_tmp = {p.parts[2] for p in python_paths() if p.parts[1:2] == ("tmp",)}  # a venv in /tmp
    assert set(seen["tmp"]) <= {"home", "matplotlib", "ipython"} | python_under_tmp  # made by its start-up


def test_the_submission_is_read_only(cell):
    _, error = cell("open('answers.txt', 'w').write('x')")
    assert error is not None and ("Read-only" in error["evalue"] or "denied" in error["evalue"])


def test_a_learner_function_is_called_on_plain_data(sandbox, cell):
    cell("def backward(dout, cache):\n    x, W = cache\n    return dout @ W.T, x.T @ dout\n"
         "def uses(f, x):\n    return f(x) * 2\n")
    backward = sandbox.lookup("backward")
    x, W, dout = np.ones((2, 3)), np.arange(12.0).reshape(3, 4), np.ones((2, 4))
    dx, dW = backward(dout, (x, W))
    np.testing.assert_array_equal(dx, dout @ W.T)
    np.testing.assert_array_equal(dW, x.T @ dout)
    assert sandbox.lookup("uses")(lambda v: v + 1, np.arange(3.0)).tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(NameError):
        sandbox.lookup("not_defined")


def test_a_call_changes_the_inputs_in_place_as_it_would_in_one_process(sandbox, cell):
    """What the learner's function does to its arguments in the sandbox is written back into the grader's, so the
    checks see an input changed in place (a contract) wherever the code runs."""
    cell("def step(w, parts, keep):\n    w -= 1.0\n    parts[0][1] = 7.0\n    parts.append(0)\n    return keep\n"
         "def reshape(x):\n    x.shape = (x.size,)\n    return 0\n")
    w, inner, keep = np.zeros((2, 2)), np.zeros(3), np.arange(3)
    parts = [inner]
    assert sandbox.lookup("step")(w, parts, keep).tolist() == [0, 1, 2]
    assert w.tolist() == [[-1.0, -1.0], [-1.0, -1.0]] and inner.tolist() == [0.0, 7.0, 0.0] and len(parts) == 2
    x = np.ones((2, 3))
    sandbox.lookup("reshape")(x)
    assert x.shape == (2, 3) and np.isnan(x).all()  # a shape it cannot take here shows as changed values
    cell("def sgd_step(w, dw, lr):\n    w -= lr * dw\n    return w\n")
    with learner_code_elsewhere():
        result = grade("sgd_step", sandbox.lookup("sgd_step"))
    assert not result.passed and "sgd_step changed w in place" in str(result), str(result)


def test_learner_errors_keep_their_type_and_line(sandbox, cell):
    cell("def f(x):\n    y = x + 1\n    raise ValueError('bad shape')\ndef g():\n    raise NotImplementedError\n")
    with pytest.raises(ValueError, match="bad shape") as caught:
        sandbox.lookup("f")(1)
    assert "line 3" in caught.value.where and "raise ValueError" in caught.value.where
    with pytest.raises(NotImplementedError):
        sandbox.lookup("g")()


def test_an_endless_loop_is_stopped_and_the_sandbox_goes_on(cell):
    cell("def f():\n    return 'alive'")
    _, error = cell("while True:\n    pass", timeout=1)
    assert error["ename"] == "TimeoutError" and "1 s" in error["evalue"]
    assert cell("print(f())") == ("alive\n", None)


def test_a_loop_that_catches_every_interruption_is_killed_and_the_cells_before_it_come_back(sandbox, cell):
    cell("def f():\n    return 'alive'")
    _, error = cell("while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
                    timeout=1)
    assert error["ename"] == "TimeoutError" and "stopped" in error["evalue"]
    assert cell("print(f())") == ("alive\n", None)  # replayed in a new process
    assert sandbox.restarts == 1


@pytest.mark.parametrize("ending", ["import os; os._exit(3)", "import os, signal; os.killpg(0, signal.SIGKILL)",
                                    "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
def test_a_cell_that_ends_the_process_is_reported_and_skipped(sandbox, cell, ending):
    cell("def f():\n    return 'alive'")
    _, error = cell(ending)
    assert error["ename"] == "SandboxError" and ("ended" in error["evalue"] or "killed" in error["evalue"]
                                                 or "crashed" in error["evalue"])
    assert cell("print(f())") == ("alive\n", None)


def test_the_parent_cannot_be_killed(cell):
    text, error = cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint(os.getppid())")
    # its parent is pid 1 of its own namespace, which refuses (as root) or ignores (in a user namespace) the signal
    assert (error is None and text == "1\n") or "not permitted" in error["evalue"], (text, error)
    assert cell("print('still here')") == ("still here\n", None)


def test_a_memory_bomb_raises_memory_error(cell):
    _, error = cell("import numpy as np\na = np.ones(10**10)")
    assert error["ename"] == "MemoryError"
    assert cell("print('still here')") == ("still here\n", None)


def test_a_fork_bomb_is_bounded_and_leaves_nothing(sandbox, cell):
    cell("def f():\n    return 'alive'")
    _, error = cell("import os\nwhile True:\n    os.fork()", timeout=60)
    assert error is not None and error["ename"] in ("BlockingIOError", "OSError")
    assert sandbox.lookup("f")() == "alive"
    sandbox.close()
    assert sandbox_processes(sandbox) == []


def test_background_processes_do_not_outlive_the_sandbox(sandbox, cell):
    text, error = cell("import subprocess\np = subprocess.Popen(['sleep', '300'], start_new_session=True)\nprint(p.pid)")
    assert error is None
    if os.geteuid() == 0:
        assert sandbox_processes(sandbox), "the background process should be running while the sandbox is"
    sandbox.close()
    if os.geteuid() == 0:
        assert sandbox_processes(sandbox) == []


def test_a_call_past_its_deadline_is_a_timeout(sandbox, cell):
    cell("def slow():\n    while True:\n        pass\n"
         "def stubborn():\n    while True:\n        try:\n            while True:\n                pass\n"
         "        except BaseException:\n            pass\n"
         "def fine():\n    return 1\n")
    for name in ("slow", "stubborn"):
        start = time.monotonic()
        with pytest.raises(GradingTimeout), learner_code_elsewhere(), _time_limit(1):
            sandbox.lookup(name)()
        assert time.monotonic() - start < 30  # generous: 1 s, then a 2 s grace, on a busy machine
    assert sandbox.lookup("fine")() == 1


def test_a_call_that_ends_the_process_is_reported_and_the_functions_come_back(sandbox, cell):
    cell("import os\ndef f(x):\n    return x + 1\ndef bye():\n    os._exit(0)\n")
    with pytest.raises(LearnerProcessEnded, match="exit status 0"):
        sandbox.lookup("bye")()
    f = sandbox.lookup("f")
    assert f(1) == 2


def test_grading_stops_after_too_many_restarts(sandbox, cell):
    cell("import os\ndef bye():\n    os._exit(1)\n")
    bye = sandbox.lookup("bye")
    for _ in range(MAX_RESTARTS + 1):
        with pytest.raises(LearnerProcessEnded):
            bye()
    with pytest.raises(LearnerProcessEnded, match="grading stopped"):
        bye()


@pytest.mark.parametrize("held", [0, 64])
def test_a_forged_answer_is_refused(sandbox, cell, held):
    """The learner's code writes a message of its own into the door: the grader does not take it. The door's
    descriptors keep the numbers they had in the grader, high after a long run (as when it holds ``held`` more)."""
    busy = [os.open(os.devnull, os.O_RDONLY) for _ in range(held)]
    try:
        sandbox.close()
        sandbox.start()
    finally:
        for fd in busy:
            os.close(fd)
    highest, _ = cell("import os\nprint(max(int(name) for name in os.listdir('/proc/self/fd')))")
    assert int(highest) > held
    cell("import os, json\ndef forge():\n"
         "    body = json.dumps({'id': 999, 'value': 42}).encode()\n"
         "    for fd in sorted(int(name) for name in os.listdir('/proc/self/fd') if int(name) > 2):\n"
         "        try:\n            os.write(fd, len(body).to_bytes(8, 'big') + body)\n"
         "        except OSError:\n            pass\n"
         "    return 1\n")
    with pytest.raises(LearnerProcessEnded, match="could not read|did not ask"):
        sandbox.lookup("forge")()
