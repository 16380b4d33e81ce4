"""Setting the course up: the README names every system package CI installs; advice to install PyTorch
names its CPU build (PyPI's torch is the CUDA build on Linux, several GB); `make clean` removes what the
tools make again and keeps the learners' answers and the instructor's submissions."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import oracle

REPO = Path(__file__).resolve().parents[1]
CPU_BUILD = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def test_the_readme_names_every_system_package_ci_installs():
    packages = re.findall(r"need\+=\(([\w.+-]+)\)", (REPO / ".ci" / "run").read_text())
    assert {"python3-venv", "chromium", "bubblewrap"} <= set(packages), packages
    readme = (REPO / "README.md").read_text()
    setup = readme[readme.index("## Set-up"):readme.index("\n## ", readme.index("## Set-up") + 1)]
    missing = [name for name in packages if f"`{name}`" not in setup and f" {name} " not in setup]
    assert not missing, f"the README's set-up section should name {missing} (.ci/run installs them on a fresh machine)"
    lines = [line.split() for line in setup.splitlines() if "apt-get install" in line]
    assert any(set(packages) <= set(words) for words in lines), "the set-up section should give one apt-get line with every package"


def test_the_oracle_skip_says_how_to_get_the_cpu_build(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    monkeypatch.delenv("BACKPROP_REQUIRE_ORACLES", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        oracle.import_torch()
    assert CPU_BUILD in skipped.value.msg
    import test_optim

    assert CPU_BUILD in test_optim.NO_TORCH


def test_every_advice_to_install_torch_names_the_cpu_build():
    """In tests/, benchmarks/, pyproject.toml, the READMEs: every pip command for torch or the bench extra
    names the CPU build (.ci/run, which installs a CPU wheel from its machines' local disk, is left out)."""
    files = [*REPO.glob("tests/**/*.py"), *REPO.glob("benchmarks/*.py"), REPO / "pyproject.toml", REPO / "README.md",
             *REPO.glob("course/*.md")]
    bare = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            advice = re.search(r"pip install[^\n]*\btorch\b|pip install[^\n]*\[bench\]", line)
            if advice and "download.pytorch.org/whl/cpu" not in line and "CPU_BUILD" not in line:
                bare.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not bare, "advice to install PyTorch without its CPU build:\n" + "\n".join(bare)


def test_make_clean_removes_generated_state_and_keeps_answers_and_submissions(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    generated = [".venv/bin/python", "build/lib/x.py", "dist/backprop_course-0.1.0-py3-none-any.whl",
                 "backprop_course.egg-info/PKG-INFO", ".pytest_cache/README.md", ".hypothesis/examples/x",
                 "backprop_ref/__pycache__/cli.cpython-311.pyc", "course/gradebook.db",
                 "course/autograded/ada/01_one_weight/one_weight.ipynb",
                 "course/feedback/ada/01_one_weight/one_weight.html", "course/reports/grades.csv"]
    kept = ["my-work/01_one_weight/one_weight.ipynb", "my-work/01_one_weight/.ipynb_checkpoints/one_weight-checkpoint.ipynb",
            "course/submitted/ada/01_one_weight/one_weight.ipynb", "course/exchange/.gitignore",
            "course/exchange/backprop-course/inbound/ada+01_one_weight+2026/one_weight.ipynb", "course/grading.key",
            "course/nbgrader_config.py", "solutions/01_one_weight/one_weight.ipynb", "exercises/01_one_weight/one_weight.ipynb"]
    for name in generated + kept:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    result = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    left = [name for name in generated if (tmp_path / name).exists()]
    assert not left, f"make clean left {left}"
    lost = [name for name in kept if not (tmp_path / name).exists()]
    assert not lost, f"make clean removed {lost}"
