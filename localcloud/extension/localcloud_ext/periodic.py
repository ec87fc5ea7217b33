"""A daemon thread that runs one function every N seconds until stopped: the one loop behind the
extension's background work (the thread pruner, the log and metric batchers, the Scheduler firer).

Standard library only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

STOP_TIMEOUT_SECONDS = 5.0


class PeriodicThread:
    """Calls ``work`` every ``seconds`` on a daemon thread named ``name``; an exception is logged
    (``failure`` on ``log``) and the next round runs. With ``final``, ``work`` runs once more
    after ``stop`` (what a batcher has gathered is sent, not dropped)."""

    def __init__(
        self,
        work: Callable[[], object],
        *,
        seconds: float,
        name: str,
        log: logging.Logger,
        failure: str,
        final: bool = False,
    ) -> None:
        self._work = work
        self._seconds = seconds
        self._log = log
        self._failure = failure
        self._final = final
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (once: again, or after ``stop``, does nothing)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        """End the thread, after the final round if any (nothing to do if it never started)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            try:
                self._work()
            except Exception:
                self._log.exception(self._failure)
        if self._final:
            self._work()
