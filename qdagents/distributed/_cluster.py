"""The controller's handle on a Dask cluster: an existing one, or a LocalCluster it starts.

With an ``address`` (``tcp://HOST:8786`` or ``tls://HOST:8786``) the controller connects to a
cluster started however the user likes (``dask scheduler`` / ``dask worker``, dask-jobqueue on
Slurm or PBS, the Kubernetes operator). Without one it starts a ``LocalCluster`` of worker
*processes* on this machine, the path tests and laptops take: each worker process runs
``threads_per_worker`` tasks at once, each in a sandbox of its own. Those processes are the
controller's children, so they start with every credential-like environment variable blanked:
provider keys stay with the controller's gateway here too.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
from urllib.parse import urlparse

__all__ = ["DaskCluster"]

log = logging.getLogger(__name__)

#: Environment variables that may hold credentials (provider keys and the like). A LocalCluster's
#: worker processes are started by the controller and would inherit them; they get them blank.
CREDENTIAL = re.compile(r"(_KEY|_TOKEN|_SECRET|PASSWORD|CREDENTIALS|_KEY_ID)$|API_KEY|ACCESS_KEY",
                        re.I)


def scrubbed_environment() -> dict[str, str]:
    """The credential-like variables of this process, blanked (``{name: ""}``)."""
    return {name: "" for name in os.environ if CREDENTIAL.search(name)}


class DaskCluster:
    """A Dask client, and the LocalCluster behind it when no address is given.

    Args:
        address: The scheduler of an existing cluster; None starts a LocalCluster.
        workers: Worker processes of the LocalCluster (ignored with an address).
        threads_per_worker: Tasks each LocalCluster worker process runs at once.
        tls: ``{"ca_file", "cert", "key"}``: Dask's mutual TLS for the scheduler, the workers
            and the client (the same files secure the relay); or a ``distributed.Security``.
        min_workers: Workers to wait for before the run starts (an existing cluster's workers
            may still be joining).
        timeout: Seconds to wait for the scheduler and for ``min_workers``.

    A LocalCluster's scheduler serves its HTTP endpoints (the dashboard, when bokeh is
    installed) on a free loopback port: :attr:`dashboard_link`.
    """

    def __init__(self, *, address: str | None = None, workers: int = 2,
                 threads_per_worker: int = 1, tls=None, min_workers: int = 1,
                 timeout: float = 60.0) -> None:
        from distributed import Client, LocalCluster

        # the scheduler and nannies of a LocalCluster log every worker's start and end at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
        self.address = address
        self.security = _security(tls)
        self.cluster = None
        if address is None:
            protocol = "tls://" if self.security is not None else "tcp://"
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                host="127.0.0.1", protocol=protocol, security=self.security,
                dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                env=scrubbed_environment())
            try:
                self.client = Client(self.cluster, security=self.security, timeout=timeout)
            except BaseException:
                self.cluster.close()
                raise
        else:
            self.client = Client(address, security=self.security, timeout=timeout)
        try:
            self.client.wait_for_workers(n_workers=min_workers, timeout=timeout)
        except BaseException as exc:
            self.close()
            if isinstance(exc, (TimeoutError, OSError)):
                raise RuntimeError(f"the Dask cluster at {self.scheduler_address} has fewer than "
                                   f"{min_workers} worker(s) after {timeout:g}s") from None
            raise

    @property
    def scheduler_address(self) -> str:
        return self.client.scheduler.address if self.client.scheduler else str(self.address)

    @property
    def dashboard_link(self) -> str:
        return self.client.dashboard_link

    @property
    def workers(self) -> dict[str, dict]:
        """The workers the scheduler knows now, by address."""
        return dict(self.client.scheduler_info(n_workers=-1)["workers"])

    def relay_host(self) -> str:
        """The address of this machine that the workers reach it by: the one it uses to reach
        the scheduler (loopback for a LocalCluster)."""
        if self.cluster is not None:
            return "127.0.0.1"
        parsed = urlparse(self.scheduler_address)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 8786
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))   # no packet is sent: this only picks the route
            return probe.getsockname()[0]

    def relay_tls_context(self) -> ssl.SSLContext | None:
        """The server TLS context for the relay, from the client's Dask certificates."""
        if self.security is None:
            return None
        return self.security.get_listen_args("client")["ssl_context"]

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> "DaskCluster":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = "LocalCluster" if self.cluster is not None else "cluster"
        return f"DaskCluster({kind} at {self.scheduler_address}, {len(self.workers)} workers)"


def _security(tls):
    """``distributed.Security`` from ``{"ca_file", "cert", "key"}`` (None: no TLS)."""
    if tls is None:
        return None
    from distributed import Security

    if isinstance(tls, Security):
        return tls
    missing = [k for k in ("ca_file", "cert", "key") if not tls.get(k)]
    if missing:
        raise ValueError(f"executor.tls needs ca_file, cert and key; missing: {missing}")
    return Security(tls_ca_file=tls["ca_file"], tls_client_cert=tls["cert"],
                    tls_client_key=tls["key"], tls_scheduler_cert=tls["cert"],
                    tls_scheduler_key=tls["key"], tls_worker_cert=tls["cert"],
                    tls_worker_key=tls["key"], require_encryption=True)
