"""A whole class on the demo hub, in headless Chromium: the instructor releases lesson 1; two learners log
in, fetch it from the Assignments tab, answer (one right, one wrong), validate and submit; the second also
forges a submission in the first's name; the instructor collects (the forgery refused), grades with the
course's command and releases feedback; each learner fetches feedback with their own score and no hidden
test code. Then what a learner must not reach, each tried as that learner and asserted refused.

What it does not cover: answers are written through the learner's own server (its contents API, from the
page) rather than typed into cells; the instructor's commands run in a shell as the instructor, with the
environment their server has, rather than in their JupyterLab terminal."""
import pwd
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from instructor import synthetic_class as synthetic

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings(r"ignore:Object of type <Submitted\w+> not in session")]
SPAWN_TIMEOUT_MS = 240_000  # a login spawns a server: seconds, but generous on a busy machine


def shell_as(hub, user, command):
    """``command`` in a shell as ``user``, in their home, with the environment the hub gives their server."""
    home = pwd.getpwnam(user).pw_dir
    config = (f"{hub.root}/config/instructor:{home}/backprop-course/course" if user == hub.instructor
              else f"{hub.root}/config/learner")
    env = {"PATH": f"{hub.root}/venv/bin:/usr/bin:/bin", "HOME": home, "USER": user, "LANG": "C.UTF-8",
           "BACKPROP_EXCHANGE": str(hub.root / "exchange"), "JUPYTER_CONFIG_PATH": config}
    return subprocess.run([shutil.which("runuser"), "-u", user, "--", "sh", "-c", command], cwd=home, env=env,
                          capture_output=True, text=True, timeout=900)


def instructor(hub, command):
    """``command`` in the instructor's course folder."""
    return shell_as(hub, hub.instructor, f"cd backprop-course && {command}")


class Learner:
    """One learner's JupyterLab in a browser context of their own, with the Assignments tab open."""

    def __init__(self, browser, hub, user):
        self.hub, self.user = hub, user
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(60_000)
        # nothing outside the hub: any other request would only hang on this closed network
        self.context.route(re.compile(rf"^(?!http://([a-z0-9-]+\.)?localhost:{hub.port}/|data:|blob:).*"),
                           lambda route: route.abort())
        self.page = page = self.context.new_page()
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", hub.accounts()[user])
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf"http://{user}\.localhost:{hub.port}/user/{user}/lab.*"), timeout=SPAWN_TIMEOUT_MS)
        page.locator(".jp-LabShell").wait_for(timeout=SPAWN_TIMEOUT_MS)
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()

    def fetch(self, assignment):
        self.page.locator("#released_assignments_list .list_item", has_text=assignment).locator("button", has_text="Fetch").click()
        self.page.locator("#fetched_assignments_list .list_item", has_text=assignment).first.wait_for()

    def write(self, path, text):
        """Save a notebook through the learner's own server, as JupyterLab saves one."""
        status = self.page.evaluate("""async ([path, content]) => {
            const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='))?.split('=')[1];
            const response = await fetch(path, {method: 'PUT', body: JSON.stringify({type: 'notebook', format: 'json',
                content: JSON.parse(content)}), headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf}});
            return response.status;
        }""", [f"/user/{self.user}/api/contents/{path}", text])
        assert status in (200, 201), f"{self.user} could not save {path}: HTTP {status}"

    def validate(self, assignment):
        """The text of the Validate button's dialog."""
        fetched = self.page.locator("#fetched_assignments_list")
        fetched.locator("a.assignment-notebooks-link", has_text=assignment).click()
        fetched.locator("button", has_text="Validate").first.click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.wait_for(timeout=300_000)
        text = dialog.inner_text()
        dialog.locator("button").last.click()
        dialog.wait_for(state="detached")
        return text

    def submit(self, assignment):
        self.page.locator("#fetched_assignments_list .list_item", has_text=assignment).locator("button", has_text="Submit").first.click()
        self.page.locator("#submitted_assignments_list .list_item", has_text=assignment).first.wait_for()

    def fetch_feedback(self, assignment):
        """The feedback page's HTML, fetched with the Assignments tab's button and read from the learner's server."""
        submitted = self.page.locator("#submitted_assignments_list .list_item", has_text=assignment).first
        self.page.locator("#refresh_assignments_list").click()
        submitted.locator("button", has_text="Fetch Feedback").click()
        submitted.locator("a", has_text="view feedback").first.wait_for(timeout=120_000)
        return self.page.evaluate("""async ([base, assignment]) => {
            // JupyterHub wants the XSRF token on every request a cookie authenticates, GETs included
            const xsrf = document.cookie.split('; ').find(c => c.startsWith('_xsrf='))?.split('=')[1];
            const get = (url) => fetch(url, {headers: {'X-XSRFToken': xsrf}});
            const list = async (path) => (await (await get(`${base}/api/contents/${path}?content=1`)).json()).content;
            const latest = (await list(`${assignment}/feedback`)).filter(f => f.type === 'directory').map(f => f.path).sort().pop();
            const page = (await list(latest)).find(f => f.name.endsWith('.html'));
            return await (await get(`${base}/files/${page.path}`)).text();
        }""", [f"/user/{self.user}", assignment])

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def a_class(class_hub, browser):
    """The whole class, release to feedback; what each step gave, for the tests below."""
    hub, assignment = class_hub, synthetic.ASSIGNMENT
    ada, ben = hub.learners
    seen = {}
    teacher_lab = Learner(browser, hub, hub.instructor)  # the formgrader inside the instructor's JupyterLab
    teacher_lab.page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    teacher_lab.page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
    frame = teacher_lab.page.frame_locator("iframe").first
    frame.locator("td.name", has_text=assignment).first.wait_for(timeout=120_000)
    seen["formgrader"] = True
    teacher_lab.close()

    released = instructor(hub, f"backprop-course build {assignment} && nbgrader release_assignment {assignment}")
    assert released.returncode == 0, released.stdout + released.stderr

    answers = {ada: synthetic.notebook(), ben: synthetic.notebook(grad=synthetic.WRONG_GRAD)}
    seen["validated"] = {}
    learners = {}
    for user, text in answers.items():
        learner = learners[user] = Learner(browser, hub, user)
        learner.fetch(assignment)
        learner.write(f"{assignment}/{synthetic.NOTEBOOK}", text)
        seen["validated"][user] = learner.validate(assignment)
        learner.submit(assignment)

    inbound = hub.root / "exchange" / "backprop-course" / "inbound"
    forged = f"{ada}+{assignment}+2099-01-01 00:00:00.000000 UTC+{secrets.token_hex(8)}"
    forgery = shell_as(hub, ben, f'mkdir "{inbound}/{forged}" && cp {assignment}/{synthetic.NOTEBOOK} "{inbound}/{forged}/" '
                                 f'&& echo "2099-01-01 00:00:00.000000 UTC" > "{inbound}/{forged}/timestamp.txt"')
    assert forgery.returncode == 0, "the exchange lets a learner write any name in inbound/: " + forgery.stderr
    seen["forged"] = forged

    seen["collect"] = instructor(hub, f"backprop-course collect {assignment}")
    graded = instructor(hub, f"backprop-course grade {assignment} --workers 2")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    gradebook = Path(pwd.getpwnam(hub.instructor).pw_dir) / "backprop-course" / "course" / "gradebook.db"
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        seen["scores"] = {s.student.id: s.score for s in gb.find_assignment(assignment).submissions}
    released = instructor(hub, f"backprop-course feedback {assignment} && nbgrader release_feedback {assignment}")
    assert released.returncode == 0, released.stdout + released.stderr
    seen["feedback"] = {user: learners[user].fetch_feedback(assignment) for user in answers}
    for learner in learners.values():
        learner.close()
    return seen


def test_the_formgrader_works_inside_the_instructor_s_jupyterlab(a_class):
    assert a_class["formgrader"]


def test_validate_tells_each_learner_how_their_answer_does(a_class, class_hub):
    ada, ben = class_hub.learners
    assert "dw is wrong" not in a_class["validated"][ada] and "failed" not in a_class["validated"][ada].lower()
    assert "dw is wrong" in a_class["validated"][ben]


def test_collect_refuses_the_forgery_and_names_its_owner(a_class, class_hub):
    ada, ben = class_hub.learners
    collect = a_class["collect"]
    assert collect.returncode == 1, collect.stdout + collect.stderr
    assert f"{a_class['forged']}: it names {ada} but it is owned by {ben}" in collect.stdout
    assert f"collected {ada}" in collect.stdout and f"collected {ben}" in collect.stdout


def test_each_learner_is_graded_on_their_own_answer(a_class, class_hub):
    ada, ben = class_hub.learners
    assert a_class["scores"] == {ada: 4.0, ben: 2.0}


def test_each_learner_s_feedback_shows_their_score_and_no_hidden_test(a_class, class_hub):
    ada, ben = class_hub.learners
    for user, score in ((ada, "4.0 / 4.0"), (ben, "2.0 / 4.0")):
        page = a_class["feedback"][user]
        assert f"Score: {score}" in page, page[:2000]
        assert "HIDDEN TESTS" not in page and "hidden=True" not in page


@pytest.mark.parametrize("what, command", [
    ("another learner's home", "ls {home2}"),
    ("another learner's submission", "ls {exchange}/backprop-course/inbound"),
    ("another learner's feedback", "ls {exchange}/backprop-course/feedback"),
    ("the instructor's solutions", "ls {teacher}/backprop-course/solutions"),
    ("the gradebook", "cat {teacher}/backprop-course/course/gradebook.db"),
    ("the hub's database", "cat {root}/state/jupyterhub.sqlite"),
    ("renaming the course in the exchange", "mv {exchange}/backprop-course {exchange}/taken"),
])
def test_a_learner_is_refused(a_class, class_hub, what, command):
    hub = class_hub
    paths = dict(home2=pwd.getpwnam(hub.learners[1]).pw_dir, exchange=hub.root / "exchange", root=hub.root,
                 teacher=pwd.getpwnam(hub.instructor).pw_dir)
    tried = shell_as(hub, hub.learners[0], command.format(**paths))
    assert tried.returncode != 0, f"a learner reached {what}: {tried.stdout[:300]}"
    assert "Permission denied" in tried.stderr or "Operation not permitted" in tried.stderr, tried.stderr
