"""The one loop behind the extension's background threads: the thread pruner, the log and metric
batchers, the Scheduler firer (localcloud_ext/periodic.py; pure, loaded without LocalStack)."""

from __future__ import annotations

import logging
import threading
from types import ModuleType

import pytest

from tests.localcloud.helpers import extension_module, wait_for

LOG = logging.getLogger("test_periodic")


@pytest.fixture(scope="module")
def periodic() -> ModuleType:
    return extension_module("periodic")


def test_a_failing_round_is_logged_and_the_next_one_runs(
    periodic: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    rounds: list[int] = []

    def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the first round fails")

    loop = periodic.PeriodicThread(work, seconds=0.01, name="test-periodic", log=LOG, failure="a round failed")
    loop.start()
    wait_for(lambda: len(rounds) >= 3, 5, "three rounds", interval=0.01)
    loop.stop()
    assert "test-periodic" not in {thread.name for thread in threading.enumerate()}
    assert [r.getMessage() for r in caplog.records if r.name == LOG.name] == ["a round failed"]


def test_stop_runs_the_final_round_once_and_the_loop_does_not_start_again(periodic: ModuleType) -> None:
    rounds: list[int] = []
    loop = periodic.PeriodicThread(
        lambda: rounds.append(1), seconds=60, name="test-periodic-final", log=LOG, failure="x", final=True
    )
    loop.start()
    loop.stop()  # long before the first 60 s round: only the final one runs (a batcher's last send)
    assert rounds == [1]
    loop.start()
    loop.stop()
    assert rounds == [1]


def test_stop_before_start_runs_nothing(periodic: ModuleType) -> None:
    rounds: list[int] = []
    loop = periodic.PeriodicThread(
        lambda: rounds.append(1), seconds=0.01, name="test-periodic-unstarted", log=LOG, failure="x", final=True
    )
    loop.stop()
    assert rounds == []
