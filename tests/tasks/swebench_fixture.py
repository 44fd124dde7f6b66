"""A small SWE-bench-format instance, built from scratch for the tests, and its docker image.

The repository (``acme/ratelimit``) is a 40-line rate limiter with a one-token bug: a sliding
window keeps an event that is exactly ``span`` seconds old (``<=`` where ``<`` is meant). The
instance has what SWE-bench publishes: a base commit, a problem statement written like a user's
issue (a symptom and a reproduction, no fix), a test patch adding tests that fail on the bug, the
gold patch, and FAIL_TO_PASS / PASS_TO_PASS lists. The image is built offline ``FROM`` the
sandbox image with the repository at ``/testbed`` (git metadata included), and pytest copied in
from this interpreter's own installation (pure-Python packages; no download).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from qdagents.tasks._swebench import image_name

INSTANCE_ID = "acme__ratelimit-7"
REPO = "acme/ratelimit"

FILES = {
    "README.md": "# ratelimit\n\nA sliding-window rate limiter.\n",
    "ratelimit/__init__.py": (
        "from ratelimit.limiter import RateLimiter\n"
        "from ratelimit.window import SlidingWindow\n\n"
        "__all__ = [\"RateLimiter\", \"SlidingWindow\"]\n"),
    "ratelimit/window.py": '''"""Timestamps of recent events."""


class SlidingWindow:
    """The events of the last ``span`` seconds; an event ``span`` seconds old has left."""

    def __init__(self, span):
        self.span = span
        self.events = []

    def add(self, now):
        self.events.append(now)

    def prune(self, now):
        self.events = [t for t in self.events if now - t <= self.span]

    def count(self, now):
        self.prune(now)
        return len(self.events)
''',
    "ratelimit/limiter.py": '''"""At most ``limit`` requests in any ``span`` seconds."""

from ratelimit.window import SlidingWindow


class RateLimiter:
    def __init__(self, limit, span):
        self.limit = limit
        self.window = SlidingWindow(span)

    def allow(self, now):
        if self.window.count(now) >= self.limit:
            return False
        self.window.add(now)
        return True
''',
    "tests/conftest.py": (
        "import os\nimport sys\n\n"
        "sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))\n"),
    "tests/test_window.py": '''from ratelimit import SlidingWindow


def test_recent_events_count():
    window = SlidingWindow(span=10)
    window.add(1)
    window.add(2)
    assert window.count(5) == 2


def test_old_events_leave():
    window = SlidingWindow(span=10)
    window.add(1)
    assert window.count(30) == 0
''',
    "tests/test_limiter.py": '''from ratelimit import RateLimiter


def test_allows_up_to_the_limit():
    limiter = RateLimiter(limit=2, span=10)
    assert limiter.allow(0) and limiter.allow(1)
    assert not limiter.allow(2)
''',
}

#: What the test patch adds (it never reaches the agent).
TEST_PATCH_FILES = {
    "tests/test_window.py": FILES["tests/test_window.py"] + '''

def test_event_exactly_span_old_has_left():
    window = SlidingWindow(span=10)
    window.add(0)
    window.add(4)
    assert window.count(10) == 1
''',
    "tests/test_limiter.py": FILES["tests/test_limiter.py"] + '''

def test_allows_again_once_the_oldest_request_has_left():
    limiter = RateLimiter(limit=2, span=10)
    assert limiter.allow(0) and limiter.allow(5)
    assert limiter.allow(10)


def test_refuses_while_the_window_is_full():
    limiter = RateLimiter(limit=1, span=10)
    assert limiter.allow(0)
    assert not limiter.allow(9)
''',
}

GOLD_FILES = {"ratelimit/window.py": FILES["ratelimit/window.py"].replace("<= self.span",
                                                                         "< self.span")}

PROBLEM = """RateLimiter refuses requests although the oldest one has left the window

With `RateLimiter(limit=2, span=10)`, requests at t=0 and t=5 are let through, as expected. A third
request at t=10 is refused, but by then the request made at t=0 is exactly 10 seconds old and
should no longer hold a place in the window: our docs say an event `span` seconds old has left.

I think the culprit is `SlidingWindow.prune`, which should drop such events. Reproduction:

```python
from ratelimit.window import SlidingWindow

window = SlidingWindow(span=10)
window.events = [0, 5]
window.prune(10)
print(window.events)
```

prints `[0, 5]`; expected `[5]`.
"""

FAIL_TO_PASS = ["tests/test_window.py::test_event_exactly_span_old_has_left",
                "tests/test_limiter.py::test_allows_again_once_the_oldest_request_has_left"]
PASS_TO_PASS = ["tests/test_window.py::test_recent_events_count",
                "tests/test_window.py::test_old_events_leave",
                "tests/test_limiter.py::test_allows_up_to_the_limit",
                "tests/test_limiter.py::test_refuses_while_the_window_is_full"]

#: pytest and what it imports, copied into the image from this interpreter's site-packages.
PYTEST_DISTRIBUTIONS = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")
PYTEST_SCRIPT = "#!/usr/bin/python3\nimport sys\n\nimport pytest\n\n" \
                "sys.exit(pytest.main())\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "A. Maintainer", "GIT_AUTHOR_EMAIL": "dev@acme.example",
           "GIT_COMMITTER_NAME": "A. Maintainer", "GIT_COMMITTER_EMAIL": "dev@acme.example",
           "GIT_AUTHOR_DATE": "2024-05-01T12:00:00Z", "GIT_COMMITTER_DATE": "2024-05-01T12:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def diff(repo: Path, files: dict[str, str]) -> str:
    """The ``git diff`` that turns the committed files into ``files``; the tree is reset after."""
    write(repo, files)
    patch = git(repo, "diff")
    git(repo, "checkout", "--", ".")
    return patch


#: The message of the commit that fixed the bug upstream: in the image's history, as in SWE-bench
#: images built before the harness cut history at the base (SWE-bench issue 465).
FUTURE_MESSAGE = "Fix the window's boundary (the upstream fix)"


def make_repository(repo: Path, *, future: bool = False) -> str:
    """Writes the repository at its base commit into ``repo``; returns the commit hash. With
    ``future``, the upstream fix is in the history too (a branch, a tag, the reflog), HEAD at
    the base, as an image that cloned the repository and reset it would have it."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    write(repo, FILES)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Sliding-window rate limiter")
    base = git(repo, "rev-parse", "HEAD").strip()
    if future:
        write(repo, GOLD_FILES)
        git(repo, "commit", "-q", "-am", FUTURE_MESSAGE)
        git(repo, "branch", "upstream")
        git(repo, "tag", "v0.2")
        git(repo, "reset", "-q", "--hard", base)
    return base


def make_instance(repo: Path) -> dict:
    """The SWE-bench instance (as published: patches as text, test lists as JSON strings)."""
    base = make_repository(repo)
    return {"instance_id": INSTANCE_ID, "repo": REPO, "version": "0.1", "base_commit": base,
            "environment_setup_commit": base, "created_at": "2024-05-02T09:00:00Z",
            "problem_statement": PROBLEM, "hints_text": "",
            "patch": diff(repo, GOLD_FILES), "test_patch": diff(repo, TEST_PATCH_FILES),
            "FAIL_TO_PASS": json.dumps(FAIL_TO_PASS), "PASS_TO_PASS": json.dumps(PASS_TO_PASS)}


def copy_distributions(site: Path) -> None:
    """Copies installed pure-Python distributions (code and metadata) into ``site``."""
    for name in PYTEST_DISTRIBUTIONS:
        dist = importlib.metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue  # console scripts outside site-packages; caches
            source = Path(dist.locate_file(file))
            if source.is_file():
                target = site / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


def image_tag(base_image_id: str) -> str:
    """A tag that changes with the fixture's text, the base image and the copied packages."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(base_image_id.encode())
    for name in PYTEST_DISTRIBUTIONS:
        digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
    return f"qdagents-swebench-fixture:{digest.hexdigest()[:12]}"


#: The name SWE-bench's published image of this instance would have (the loader's default).
IMAGE = image_name(INSTANCE_ID, arch={"aarch64": "arm64"}.get(platform.machine(),
                                                             platform.machine()))


def build_image(client, base_image: str) -> str:
    """Builds (once per content) the instance image FROM ``base_image`` and names it
    :data:`IMAGE`, as if it were SWE-bench's; returns that name.

    The Dockerfile only copies files (no ``RUN``), so the build needs no network.
    """
    import docker.errors

    tag = image_tag(client.images.get(base_image).id)
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        build(client, base_image, tag)
    repository, _, version = IMAGE.rpartition(":")
    client.images.get(tag).tag(repository, tag=version)
    return IMAGE


def build(client, base_image: str, tag: str) -> None:
    with tempfile.TemporaryDirectory(prefix="qdagents-fixture-image-") as scratch:
        context = Path(scratch)
        make_repository(context / "testbed", future=True)
        copy_distributions(context / "site")
        (context / "pytest").write_text(PYTEST_SCRIPT)
        (context / "pytest").chmod(0o755)
        (context / "Dockerfile").write_text(
            f"FROM {base_image}\n"
            "COPY site/ /usr/local/lib/python3.11/dist-packages/\n"
            "COPY pytest /usr/local/bin/pytest\n"
            "COPY testbed/ /testbed/\n"
            "WORKDIR /testbed\n")
        client.images.build(path=str(context), tag=tag, rm=True, pull=False,
                            network_mode="none")


def write_instances(path: Path, instances: list[dict]) -> Path:
    """Writes instances as JSON Lines (the format SWE-bench's own files use)."""
    path.write_text("".join(json.dumps(instance) + "\n" for instance in instances))
    return path
