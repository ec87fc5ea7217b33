"""Finished threads let go, so LocalStack's one process can run executions without end.

LocalStack keeps every thread its Step Functions interpreter starts (an execution's worker, its
program, each attempt of each Task state, each callback wait) in ``TMP_THREADS``, a list it only
empties at shutdown, to stop them then. A Python 3.13 thread that has ended but is still referenced
and was never joined keeps its 8 MiB stack mapped, with a guard page: two memory mappings. Linux
allows a process 65,530 (``vm.max_map_count``), so after ~32,000 threads over the process's life,
about 5,000 executions whose create_job is throttled and retried, every new thread fails with
"can't start new thread": Lambda invokes fail, tasks end ``WorkflowRuntimeError``. One full
``make bench`` got there in its crowd.

Here a thread of the local cloud joins, every ``PRUNE_SECONDS``, the threads in ``TMP_THREADS``
that have ended (which frees their stacks) and drops them from the list. Threads still running,
or not started yet, stay, and shutdown stops them as before.

Standard library and LocalStack only: started by the ``on_infra_start`` hook (plugins.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from localcloud_ext.periodic import PeriodicThread

LOG = logging.getLogger("localcloud.threads")

PRUNE_SECONDS = 2.0


def prune(threads: list[Any]) -> int:
    """Join and drop the ended threads of ``threads`` (LocalStack's TMP_THREADS); the count dropped.

    Others append to the list meanwhile, at its end only, so walking it from the end by index
    never skips or drops a thread appended during the walk."""
    dropped = 0
    for index in range(len(threads) - 1, -1, -1):
        try:
            thread = threads[index]
        except IndexError:  # emptied by shutdown meanwhile
            return dropped
        if not isinstance(thread, threading.Thread) or thread.ident is None or thread.is_alive():
            continue  # not a thread, not started yet, or still running
        thread.join(timeout=0)  # ended: returns at once, and the OS thread's stack is freed
        del threads[index]
        dropped += 1
    return dropped


def prune_localstack_threads() -> None:
    from localstack.utils.threads import TMP_THREADS

    prune(TMP_THREADS)


PRUNER = PeriodicThread(
    prune_localstack_threads,
    seconds=PRUNE_SECONDS,
    name="localcloud-thread-pruner",
    log=LOG,
    failure="letting go of ended threads failed",
)
