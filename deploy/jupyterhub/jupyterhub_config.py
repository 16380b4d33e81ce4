"""JupyterHub's configuration for a class of this course on one machine (hub.py starts it with the
environment below; README "A class on JupyterHub" says what a real class changes).

HUB_ROOT      the demo's folder: venv/, proxy/, exchange/, config/<role>/, home/<user>/, state/ (0700)
HUB_PORT      the port on 127.0.0.1 (default 8000; the proxy's API and the hub itself take the next two)
HUB_INSTRUCTOR, HUB_LEARNERS   the instructor's user name, and the learners' (comma-separated)
"""
import os
from pathlib import Path

root = Path(os.environ["HUB_ROOT"])
port = int(os.environ.get("HUB_PORT", "8000"))
instructor = os.environ["HUB_INSTRUCTOR"]
learners = {name for name in os.environ.get("HUB_LEARNERS", "").split(",") if name}
state, venv, exchange = root / "state", root / "venv", root / "exchange"

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# Only loopback. Each user's server has an origin of its own (<user>.localhost, which browsers resolve to
# loopback): one user's page can then never script another's, and the instructor's formgrader may be framed
# by their own JupyterLab (frame-ancestors 'self', below) without opening that to anyone else.
c.JupyterHub.bind_url = f"http://127.0.0.1:{port}"
c.JupyterHub.subdomain_host = f"http://localhost:{port}"
c.ConfigurableHTTPProxy.command = [str(root / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{port + 2}"  # where the proxy and the servers reach the hub
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.pid_file = str(state / "hub.pid")

# The hub's state (its database, cookie secret, logs) is root's alone.
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")

# Unix accounts with their passwords (PAM); only the class's.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no logind in a container; nothing here needs a session
c.Authenticator.allowed_users = learners | {instructor}

# Each user's server runs as that user, from the shared environment, in their home (0700).
c.Spawner.cmd = [str(venv / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.start_timeout = c.Spawner.http_timeout = 180  # a busy 2-core machine: generous
c.Spawner.environment = {
    "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    "BACKPROP_EXCHANGE": str(exchange),  # course/nbgrader_config.py and the learners' config read it
}


def by_role(spawner):
    """The instructor's Jupyter config: the course folder's nbgrader configuration (formgrader, grading) and
    a framing policy for the formgrader; a learner's: no formgrader, no create-assignment, no course list."""
    name = spawner.user.name
    if name == instructor:
        course = Path(os.path.expanduser(f"~{name}")) / "backprop-course" / "course"
        spawner.environment["JUPYTER_CONFIG_PATH"] = f"{root / 'config' / 'instructor'}:{course}"
    else:
        spawner.environment["JUPYTER_CONFIG_PATH"] = str(root / "config" / "learner")


c.Spawner.pre_spawn_hook = by_role
