"""Ended interpreter threads let go of their stacks (localcloud_ext/threads.py): LocalStack keeps
every Step Functions thread until shutdown, each with an 8 MiB stack mapping, and a process may
hold 65,530 mappings. Counted in LocalStack's own /proc maps. On the shared instance."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import localcloud
from tests.localcloud.helpers import Clients, create_function, create_state_machine, extension_module, status, wait_for

EXECUTIONS = 40
STACK_BYTES = 8 * 1024 * 1024


def stack_mappings(pid: int) -> int:
    """Anonymous 8 MiB read-write mappings: the process's thread stacks (live or never freed)."""
    count = 0
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split()
        start, end = (int(x, 16) for x in fields[0].split("-"))
        if len(fields) == 5 and end - start == STACK_BYTES and fields[1] == "rw-p":
            count += 1
    return count


def test_threads_of_ended_executions_free_their_stacks(
    shared_client: Clients, shared_cloud: localcloud.Instance
) -> None:
    with urllib.request.urlopen(f"{shared_cloud.endpoint}/_localcloud/info") as answer:
        pid = int(json.load(answer)["pid"])
    function = create_function(
        shared_client, "threads-probe", "def lambda_handler(event, context):\n    return event\n"
    )
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": function}}
    machine = create_state_machine(
        shared_client, {"StartAt": "A", "States": {"A": {**task, "Next": "B"}, "B": {**task, "End": True}}}
    )
    sfn = shared_client("stepfunctions")
    before = stack_mappings(pid)
    executions = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(EXECUTIONS)]
    for execution in executions:
        wait_for(lambda execution=execution: status(shared_client, execution) == "SUCCEEDED", 30, "the execution")

    # Each execution ran ~5-6 interpreter threads (worker, program, a thread per Task attempt, ...):
    # kept, they add ~220 stacks for 40 executions (measured unpatched). Let go, ~25 stay mapped
    # (glibc's stack cache and threads LocalStack keeps running), well under one per execution.
    wait_for(lambda: stack_mappings(pid) <= before + EXECUTIONS, 15, "the ended threads' stacks to be freed")


def test_prune_drops_ended_threads_and_keeps_running_and_unstarted_ones() -> None:
    prune = extension_module("threads").prune
    release = threading.Event()
    ended = [threading.Thread(target=lambda: None) for _ in range(3)]
    for thread in ended:
        thread.start()
        thread.join()
    running = threading.Thread(target=release.wait)
    running.start()
    unstarted = threading.Thread(target=lambda: None)
    threads = [ended[0], running, ended[1], unstarted, None, ended[2]]
    try:
        assert prune(threads) == 3
        assert threads == [running, unstarted, None]
    finally:
        release.set()
        running.join()
