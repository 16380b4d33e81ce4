"""The course's nbgrader configuration names an exchange that exists and can be written, so nbgrader's API
(what the formgrader builds on every page, and the assignment list) logs no "Unwritable directory"."""
import logging
import os
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.exchange.default.list import ExchangeList

from backprop_ref.instructor.course import Course

REPO = Path(__file__).resolve().parents[2]


def test_the_exchange_exists_and_nbgrader_logs_no_unwritable_directory(caplog, monkeypatch):
    monkeypatch.delenv("BACKPROP_EXCHANGE", raising=False)
    course = Course(REPO)
    root = Path(course.config.Exchange.root)
    assert root == REPO / "course" / "exchange", "the exchange of a course on one machine is course/exchange/"
    assert root.is_dir() and os.access(root, os.W_OK | os.X_OK), f"{root} must exist and be writable"
    with caplog.at_level(logging.WARNING):
        api = NbGraderAPI(config=course.config)  # as the formgrader's handlers make it
        listed = ExchangeList(coursedir=api.coursedir, authenticator=api.authenticator, config=course.config)
        listed.start()  # what the assignment list runs: it checks the exchange first
    assert not api.exchange_missing, "nbgrader's API found no usable exchange"
    assert "Unwritable directory" not in caplog.text, caplog.text


def test_a_class_names_its_shared_exchange_in_backprop_exchange(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_EXCHANGE", str(tmp_path / "exchange"))
    assert Path(Course(REPO).config.Exchange.root) == tmp_path / "exchange"
    monkeypatch.setenv("BACKPROP_EXCHANGE", "")  # set but empty, as a unit file may leave it: the default
    assert Path(Course(REPO).config.Exchange.root) == REPO / "course" / "exchange"
