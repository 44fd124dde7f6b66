"""What a repository task (a SWE-bench instance) costs besides the agent and the tests (not a test).

Builds an image FROM the sandbox image whose ``/testbed`` is a synthetic repository of the size
asked (``--files`` source files of ``--kb`` KB, plus a ``--git-mb`` MB pack file standing for the
git history; django's /testbed is about 6 000 files and 300 MB), then times each step the
evaluator adds for such a task: copying ``/testbed`` out of the image (once per image and
process), a workspace copy for an agent run, the verdict's copy of the agent's repository, the
workspace snapshots that measure changed lines, and one verdict container running ``true``.

    python experiments/bench_repository.py [--files 6000 --kb 8 --git-mb 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from qdagents.evaluation import snapshot
from qdagents.sandbox import DEFAULT_IMAGE, Limits, make_sandbox
from qdagents.tasks import RepositoryTask
from qdagents.tasks._repository import CACHE, copy_for_verdict, copy_tree

TAG = "qdagents-bench-repository:latest"


def build(sandbox, files: int, kb: int, git_mb: int) -> None:
    with tempfile.TemporaryDirectory(prefix="qdagents-bench-") as scratch:
        root = Path(scratch) / "testbed"
        line = "value = compute(alpha, beta, gamma)  # a line of code\n"
        text = line * max(1, kb * 1024 // len(line))
        for i in range(files):
            folder = root / f"pkg{i // 100}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"mod{i}.py").write_text(text)
        (root / ".git" / "objects" / "pack").mkdir(parents=True)
        with open(root / ".git" / "objects" / "pack" / "pack-1.pack", "wb") as pack:
            for _ in range(git_mb):
                pack.write(os.urandom(1 << 20))
        (Path(scratch) / "Dockerfile").write_text(f"FROM {DEFAULT_IMAGE}\nCOPY testbed/ /testbed/\n")
        sandbox.client.images.build(path=scratch, tag=TAG, rm=True, pull=False,
                                    network_mode="none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=6000)
    parser.add_argument("--kb", type=int, default=8)
    parser.add_argument("--git-mb", type=int, default=200)
    args = parser.parse_args()
    sandbox = make_sandbox("docker")
    build(sandbox, args.files, args.kb, args.git_mb)
    rows = []

    def timed(name, call):
        start = time.perf_counter()
        result = call()
        rows.append((name, time.perf_counter() - start))
        return result

    task = RepositoryTask(id="bench", problem="", repo="bench/bench", base_commit="0",
                          test_patch="", fail_to_pass=("t",), pass_to_pass=(), image=TAG,
                          test_command="true")
    try:
        with tempfile.TemporaryDirectory(prefix="qdagents-bench-") as scratch, ExitStack() as stack:
            scratch = Path(scratch)
            timed("copy /testbed out of the image (once per image)",
                  lambda: stack.enter_context(CACHE.checkout(sandbox, TAG)))
            base = timed("checkout again (cached)",
                         lambda: stack.enter_context(CACHE.checkout(sandbox, TAG)))
            (scratch / "workspace").mkdir()
            timed("workspace copy for an agent run", lambda: copy_tree(base, scratch / "workspace"))
            timed("snapshot of the workspace (twice per task)",
                  lambda: snapshot(scratch / "workspace"))
            timed("the verdict's copy of the agent's repository",
                  lambda: copy_for_verdict(scratch / "workspace", scratch / "verdict", base))
            shutil.rmtree(scratch / "verdict")
            timed("whole verdict (copies, patch, a container running `true`)",
                  lambda: task.judge(scratch / "workspace", sandbox=sandbox,
                                     limits=Limits(seconds=120)))
    finally:
        sandbox.client.images.remove(TAG, force=True)
    size = args.files * args.kb / 1024 + args.git_mb
    print(f"repository: {args.files} files of {args.kb} KB + {args.git_mb} MB git pack "
          f"(~{size:.0f} MB)")
    for name, seconds in rows:
        print(f"{name:<55} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
