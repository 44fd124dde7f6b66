"""Scale out on Dask: an agent's tasks run on a cluster; the gateway, budgets and records stay home.

The controller keeps everything that decides or records a run (the gateway with its provider
keys, metering, budgets, record/replay, ``run.sqlite``); Dask workers only run sandboxes. Pieces:

- :class:`DaskCluster`: a client to an existing cluster, or a LocalCluster of worker processes.
- :class:`DaskTaskRunner`: runs a stage of an agent's tasks at once, one Dask task per task
  (:func:`run_task` on the worker, with :class:`TaskWork` as its plain-value input), after a
  preflight of every worker (:func:`check_worker`, :class:`WorkerUnusable`); DGM-style
  self-modification runs on a worker the same way (:func:`run_workshop`).
- :class:`RelayEndpoint` (controller) and :class:`GatewayRelay` (worker): the agent's unix socket
  on a worker reaches the controller's gateway over an authenticated TCP connection.

Needs the ``distributed`` extra: ``pip install qdagents[distributed]``. See docs/distributed.md.
"""

from qdagents.distributed._cluster import DaskCluster
from qdagents.distributed._relay import (GatewayRelay, RelayEndpoint, RelayError, RelaySession,
                                         RelayTicket, ping)
from qdagents.distributed._tasks import DaskTaskRunner
from qdagents.distributed._work import (TaskOutcome, TaskWork, WorkerCheck, WorkerUnusable,
                                        WorkshopWork, check_worker, ensure_checked, run_task,
                                        run_workshop, unavailable_here, without_solution)

__all__ = ["DaskCluster", "DaskTaskRunner", "GatewayRelay", "RelayEndpoint",
           "RelayError", "RelaySession", "RelayTicket", "TaskOutcome", "TaskWork", "WorkerCheck",
           "WorkerUnusable", "WorkshopWork", "check_worker", "ensure_checked", "ping",
           "run_task", "run_workshop", "unavailable_here", "without_solution"]
