"""nbgrader's collect with one rule more: a submission is taken only from the learner it names.

nbgrader's exchange lets any learner create ``inbound/<name>+<assignment>+<timestamp>+<random>``, and its
collect only warns when <name> is not the folder's owner (nbgrader's issue #1097): a learner could submit
in another's name, and the latest folder in a name is the one graded. Here a submission counts only if
the folder and everything in it are owned by the Unix user it names; a symbolic link or a special file
counts as forged too (collect runs with the instructor's rights). Anything else stays in inbound/, is left
out before each learner's latest submission is chosen, and is reported with who owns it.

The time that counts (which submission is the latest, and lateness) is not the one the learner wrote (the
folder's name and its timestamp.txt, nbgrader's issue #1104) but the latest status change time (ctime) of
the folder and everything in it: the kernel sets it, and no user can set it back. The collected copy's
timestamp.txt, which nbgrader reads for lateness, holds that time.

course/nbgrader_config.py makes this nbgrader's collect, so `nbgrader collect` and the formgrader's
Collect button follow the rule as `backprop-course collect` does.
"""
import datetime
import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange import ExchangeError
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import check_mode, ignore_patterns

from .course import CourseError


@dataclass
class Submission:
    """A folder in inbound/: the learner it names, and when it last changed (None when refused)."""
    folder: Path
    student: str
    time: datetime.datetime = None
    refused: str = ""  # why it is not taken


class OwnedCollect(ExchangeCollect):
    """nbgrader's collect, taking only submissions owned by the learner they name (see the module)."""

    def init_src(self):
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        self.inbound_path = os.path.join(self.root, self.coursedir.course_id, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not check_mode(self.inbound_path, read=True, execute=True):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                self.duedate = None
        self.submissions = [s for s in map(self._inspect, sorted(Path(self.inbound_path).iterdir())) if s]
        by_student = {}
        for submission in sorted((s for s in self.submissions if not s.refused), key=lambda s: s.time):
            by_student.setdefault(submission.student, []).append(submission)
        self.src_records = [self._choose(submissions) for submissions in by_student.values()]

    def _choose(self, submissions):
        """nbgrader's choice among one learner's submissions (oldest first): the latest, or with
        before_duedate the latest on time if there is one."""
        if self.before_duedate and self.duedate is not None:
            on_time = [s for s in submissions if s.time <= self.duedate]
            if on_time:
                return on_time[-1]
        return submissions[-1]

    def _inspect(self, folder):
        """The submission in ``folder`` if it is one of this assignment's (None otherwise), refused or not."""
        parts = folder.name.rsplit("+", 3)
        if len(parts) < 3 or parts[1] != self.coursedir.assignment_id:
            return None
        submission = Submission(folder, parts[0])
        submission.refused = self._forged(submission)
        if not submission.refused:
            submission.time = last_changed(folder)
        return submission

    def _forged(self, submission):
        """Why ``submission`` is not the named learner's own, or "" if it is."""
        name = submission.student
        if not name or name.startswith(".") or os.sep in name:
            return f"{name!r} is not a learner's name"
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            uid = None
            if self.check_owner:
                return f"there is no Unix user {name}"
        try:
            for path in everything_in(submission.folder):
                info = path.lstat()
                where = "it" if path == submission.folder else str(path.relative_to(submission.folder))
                if stat.S_ISLNK(info.st_mode):
                    return f"{where} is a symbolic link"
                if path == submission.folder and not stat.S_ISDIR(info.st_mode):
                    return "it is not a folder"
                if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
                    return f"{where} is not a file or a folder"
                if self.check_owner and info.st_uid != uid:
                    return f"it names {name} but {where} is owned by {owner_name(info.st_uid)}"
        except OSError as e:
            return f"{e.filename} cannot be read ({e.strerror})"
        return ""

    def copy_files(self):
        self.collected = []
        for submission in self.src_records:
            dest = Path(self.coursedir.format_path(self.coursedir.submitted_directory, submission.student,
                                                   self.coursedir.assignment_id))
            existing = self.coursedir.get_existing_timestamp(str(dest)) if dest.is_dir() else None
            if existing is not None and (existing == submission.time or existing > submission.time and
                                         not self.before_duedate):
                self.log.info("No newer submission to collect: %s %s", submission.student, self.coursedir.assignment_id)
                continue
            if self._copy(submission, dest):
                self.collected.append(submission)
                self.log.info("Collected %s %s (last changed %s)", submission.student, self.coursedir.assignment_id,
                              self._format(submission.time))

    def _copy(self, submission, dest):
        """Copy ``submission`` to ``dest``, replacing what is there only once the copy is whole and the
        submission did not change while it was copied."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        new, old = dest.with_name(f".{dest.name}.collecting"), dest.with_name(f".{dest.name}.replaced")
        for leftover in (new, old):
            shutil.rmtree(leftover, ignore_errors=True)
        coursedir = self.coursedir
        try:
            shutil.copytree(submission.folder, new, symlinks=True,  # a link made after the check stays a link
                            ignore=ignore_patterns(exclude=coursedir.ignore, include=coursedir.include,
                                                   max_file_size=coursedir.max_file_size, log=self.log))
            links = [p for p in everything_in(new) if p.is_symlink()]
            if links or self._forged(submission) or last_changed(submission.folder) != submission.time:
                raise OSError("it changed while it was collected")
        except OSError as e:  # shutil.Error is one, as is a named pipe put in after the check
            shutil.rmtree(new, ignore_errors=True)
            submission.refused = getattr(e, "strerror", None) or str(e)
            return False
        (new / "timestamp.txt").write_text(self._format(submission.time))
        if dest.exists():
            dest.rename(old)
        new.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
        return True

    def _format(self, time):
        return time.replace(tzinfo=datetime.timezone.utc).strftime(self.timestamp_format)


def everything_in(folder):
    """``folder`` and every file and folder in it, links not followed; an unreadable folder raises."""
    yield folder
    if folder.is_dir() and not folder.is_symlink():
        for parent, folders, files in os.walk(folder, onerror=_raise):
            for name in sorted(folders + files):
                yield Path(parent, name)


def _raise(error):
    raise error


def last_changed(folder):
    """The latest ctime of ``folder`` and everything in it, in UTC (naive, as nbgrader compares times)."""
    latest = max(p.lstat().st_ctime for p in everything_in(folder))
    return datetime.datetime.fromtimestamp(latest, datetime.timezone.utc).replace(tzinfo=None)


def owner_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user id {uid}"


def collect(course, assignment, out):
    """Collect ``assignment``'s submissions from the exchange into the course's submitted folder; print what
    was collected and what was refused (with why) to ``out``. Returns the refused submissions."""
    from nbgrader.utils import temp_attrs

    course.check_assignment(assignment)
    api = course.api()
    with temp_attrs(api.coursedir, assignment_id=assignment):
        collector = OwnedCollect(coursedir=api.coursedir, authenticator=api.authenticator, parent=api)
        collector.update = True  # the newest submission replaces an older one collected before
        try:
            collector.start()
        except ExchangeError as e:
            raise CourseError(f"nbgrader's exchange at {collector.root} refused: {e}") from None
    for submission in collector.collected:
        print(f"collected {submission.student}: {submission.folder.name} (last changed "
              f"{collector._format(submission.time)})", file=out)
    refused = [s for s in collector.submissions if s.refused]
    for submission in refused:
        print(f"refused {submission.folder}: {submission.refused}; it stays in the exchange", file=out)
    if not collector.collected:
        print(f"nothing new to collect for {assignment}", file=out)
    return refused
