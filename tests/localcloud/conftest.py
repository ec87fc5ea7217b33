"""One local cloud shared by the test modules that leave it running (test_localcloud.py starts and
stops an instance of its own). Started on a free port with a state dir of its own."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import localcloud
from tests.localcloud.helpers import Clients, client_factory, free_port


@pytest.fixture(scope="session")
def shared_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localcloud.Instance]:
    state_dir = tmp_path_factory.mktemp("localcloud-shared")
    started = time.monotonic()
    instance = localcloud.start(port=free_port(), state_dir=state_dir, echo=print)
    print(f"[localcloud] shared instance ready in {time.monotonic() - started:.1f} s at {instance.endpoint}")
    try:
        yield instance
    finally:
        localcloud.stop(state_dir=state_dir)


@pytest.fixture(scope="session")
def shared_client(shared_cloud: localcloud.Instance) -> Clients:
    return client_factory(shared_cloud.endpoint)
