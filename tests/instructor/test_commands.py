"""`backprop-course validate`: nbgrader's validation with an exit status, and one clear sentence on bad input."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LESSON = Path("04_losses") / "losses.ipynb"  # a quick lesson


def validate(*paths):
    return subprocess.run([sys.executable, "-m", "backprop_ref.cli", "validate", *map(str, paths)],
                          capture_output=True, text=True, timeout=600)


def test_a_solution_passes_and_a_learner_copy_fails(tmp_path):
    for folder in ("solutions", "exercises"):
        (tmp_path / folder).mkdir()
        shutil.copy(ROOT / folder / LESSON, tmp_path / folder / LESSON.name)
    passed = validate(tmp_path / "solutions" / LESSON.name)
    assert passed.returncode == 0 and passed.stdout.startswith("PASS"), passed.stdout + passed.stderr
    failed = validate(tmp_path / "exercises" / LESSON.name)
    assert failed.returncode == 1 and failed.stdout.startswith("FAIL") and "is not written yet" in failed.stdout


def test_bad_input_says_what_is_wrong(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    result = validate(tmp_path / "missing.ipynb", tmp_path / "notes.txt", tmp_path / "broken.ipynb")
    assert result.returncode == 1
    assert "no such file" in result.stdout and "is not a notebook (.ipynb)" in result.stdout
    assert "broken.ipynb is not a notebook that Jupyter can open" in result.stdout
