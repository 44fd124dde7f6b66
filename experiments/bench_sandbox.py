"""Start-up overhead per task of each sandbox backend (not a test).

Runs ``python3 -c pass`` N times per backend and prints the median and 90th-percentile wall time,
and the median overhead over running the same interpreter as a bare subprocess. Docker is measured
twice: ``run`` (a container per command) and a ``session`` (one container, an exec per command),
which is how an evaluation runs its tasks.

    python experiments/bench_sandbox.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from qdagents.sandbox import Limits, Mount, make_sandbox
from qdagents.sandbox._select import bwrap_status, docker_status

ARGV = ["python3", "-c", "pass"]


def timed(call, runs: int) -> list[float]:
    call()  # warm-up (imports, first container, page cache)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    workspace = Path(tempfile.mkdtemp(prefix="bench-"))
    mounts = [Mount(workspace, "/workspace", writable=True)]
    limits = Limits(seconds=60)
    kwargs = dict(workdir="/workspace", mounts=mounts, env={}, limits=limits)

    def check(result):
        assert result.exit_code == 0, result

    rows = [("bare subprocess", timed(lambda: subprocess.run(["/usr/bin/python3", "-c", "pass"],
                                                             check=True), runs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        process = make_sandbox("process")
    rows.append(("process", timed(lambda: check(process.run(ARGV, **kwargs)), runs)))
    skipped = []
    if bwrap_status().available:
        bwrap = make_sandbox("bwrap")
        rows.append(("bwrap", timed(lambda: check(bwrap.run(ARGV, **kwargs)), runs)))
    else:
        skipped.append("bwrap")
    if docker_status().available:
        docker = make_sandbox("docker")
        rows.append(("docker run", timed(lambda: check(docker.run(ARGV, **kwargs)), runs)))
        with docker.session(mounts, limits=limits) as session:
            rows.append(("docker session exec",
                         timed(lambda: check(session.run(ARGV, **kwargs)), runs)))
    else:
        skipped.append("docker")

    bare = statistics.median(rows[0][1])
    print(f"python3 -c pass, {runs} runs each (after one warm-up)\n")
    print(f"{'backend':<22}{'median ms':>10}{'p90 ms':>10}{'overhead ms':>13}")
    for name, samples in rows:
        median = statistics.median(samples)
        p90 = statistics.quantiles(samples, n=10)[-1]
        print(f"{name:<22}{median * 1e3:>10.1f}{p90 * 1e3:>10.1f}{(median - bare) * 1e3:>13.1f}")
    for name in skipped:
        print(f"{name:<22}{'unavailable':>10}")


if __name__ == "__main__":
    main()
