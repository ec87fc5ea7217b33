"""The local cloud: LocalStack's open-source core on the host, provisioned from package registries.

Command line: ``python -m localcloud start|stop|status|logs|provision|env`` (see README.md here).
Python API, e.g. for test fixtures::

    import localcloud

    instance = localcloud.start(port=4566, clock_speed=12)   # provisions on first use
    os.environ.update(localcloud.cdklocal_env(instance.endpoint))
    ...
    localcloud.scheduler_stats(instance.endpoint)["totalFired"]
    localcloud.stop()
"""

from localcloud.core import (
    DEFAULT_PORT,
    Instance,
    LocalCloudError,
    PortInUseError,
    Settings,
    cdklocal_env,
    counters,
    endpoint,
    ensure_started,
    is_running,
    kill_lambda,
    scheduler_stats,
    start,
    status,
    stop,
)
from localcloud.provision import ProvisionError, provision

__all__ = [
    "DEFAULT_PORT",
    "Instance",
    "LocalCloudError",
    "PortInUseError",
    "ProvisionError",
    "Settings",
    "cdklocal_env",
    "counters",
    "endpoint",
    "ensure_started",
    "is_running",
    "kill_lambda",
    "provision",
    "scheduler_stats",
    "start",
    "status",
    "stop",
]
