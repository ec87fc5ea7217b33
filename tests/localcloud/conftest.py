"""One local cloud for the whole tests/localcloud package, on a free port with a state dir of its
own. test_localcloud.py ends by stopping it (the stop test), so it runs after the other modules."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import localcloud
from tests.localcloud.helpers import (
    CLOCK_SPEED,
    Clients,
    client_factory,
    free_port,
    group_members,
    processes_mentioning,
)

HERE = Path(__file__).resolve().parent
LAST = "test_localcloud.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run test_localcloud.py after the other modules of this package (keeping every other order)."""
    positions = [n for n, item in enumerate(items) if item.path.parent == HERE]
    ours = [items[n] for n in positions]
    reordered = [i for i in ours if i.path.name != LAST] + [i for i in ours if i.path.name == LAST]
    for n, item in zip(positions, reordered, strict=True):
        items[n] = item


@pytest.fixture(scope="package")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localcloud.Instance]:
    state_dir = tmp_path_factory.mktemp("localcloud-shared")
    started = time.monotonic()
    instance = localcloud.start(port=free_port(), clock_speed=CLOCK_SPEED, state_dir=state_dir, echo=print)
    print(f"[localcloud] ready in {time.monotonic() - started:.1f} s at {instance.endpoint}")
    try:
        yield instance
    finally:
        localcloud.stop(state_dir=state_dir)  # already stopped when test_localcloud.py's stop test ran
        assert group_members(instance.pid) == []
        assert processes_mentioning(str(state_dir)) == []


@pytest.fixture(scope="package")
def shared_client(shared_cloud: localcloud.Instance) -> Clients:
    return client_factory(shared_cloud.endpoint)
