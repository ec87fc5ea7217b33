"""Functions' log lines on the local cloud (localcloud_ext/lambda_logs.py): every line of every
invocation reaches its log stream in order, in fewer PutLogEvents than invocations."""

from __future__ import annotations

import json
import queue
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

import localcloud
from localcloud.core import counters
from tests.localcloud.helpers import Clients, create_function, extension_module, request_count, wait_for

HANDLER = """
def lambda_handler(event, context):
    for line in range(3):
        print(f"marker {event['n']} line {line}")
    return {"n": event["n"]}
"""


@pytest.fixture(scope="module")
def function(shared_client: Clients) -> str:
    create_function(shared_client, "logs-probe", HANDLER, Timeout=10)
    return "logs-probe"


def _lines(client: Clients, function: str) -> list[str]:
    logs = client("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")
    except logs.exceptions.ResourceNotFoundException:  # no line sent yet: the group is made with the first
        return []
    lines = (e["message"].strip() for e in events["events"])  # START/END/REPORT lines too
    return [line for line in lines if line.startswith("marker ")]


def test_every_line_arrives_in_order_in_fewer_puts_than_invocations(
    shared_client: Clients, shared_cloud: localcloud.Instance, function: str
) -> None:
    shared_client("lambda").invoke(FunctionName=function, Payload=json.dumps({"n": -1}).encode())  # warm
    wait_for(lambda: _lines(shared_client, function), 10, "the warm-up's log lines")
    counters(shared_cloud.endpoint, reset=True)

    def invoke(n: int) -> None:
        shared_client("lambda").invoke(FunctionName=function, Payload=json.dumps({"n": n}).encode())

    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(invoke, range(40)))
    lines = wait_for(lambda: len(got := _lines(shared_client, function)) >= 3 * 41 and got, 15, "every log line")

    assert sorted(lines) == sorted(f"marker {n} line {k}" for n in range(-1, 40) for k in range(3))
    for n in range(40):  # an invocation's lines in the order it printed them
        own = [line for line in lines if line.startswith(f"marker {n} ")]
        assert own == [f"marker {n} line {k}" for k in range(3)]
    puts = request_count(counters(shared_cloud.endpoint), "logs", "PutLogEvents")
    assert 1 <= puts < 40  # LocalStack: one per invocation (40)


def test_a_round_takes_what_is_queued_and_stops_at_the_shutdown_pill() -> None:
    lambda_logs = extension_module("lambda_logs")
    item = [SimpleNamespace(log_group="g", log_stream=f"s{n % 2}", logs=f"a{n}\n\nb{n}\n") for n in range(4)]
    more: queue.Queue[object] = queue.Queue()
    for each in (item[1], item[2], object(), item[3]):
        more.put(each)

    taken, stopping = lambda_logs.gather(item[0], more)
    streams = lambda_logs.by_stream(taken, 7)

    assert (taken, stopping) == (item[:3], True)
    assert {key: [e["message"] for e in events] for key, events in streams.items()} == {
        ("g", "s0"): ["a0\n", "b0\n", "a2\n", "b2\n"],
        ("g", "s1"): ["a1\n", "b1\n"],
    }
    assert {e["timestamp"] for events in streams.values() for e in events} == {7}
