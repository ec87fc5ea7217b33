"""The poller's schedules (one per shard) and their dead-letter queue."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from .conftest import Synth
from .template_helpers import get_att, logical_id, resource, resources


def _expected_schedule(template_json: dict[str, Any], shard: int, shards: int) -> dict[str, Any]:
    return {
        "Description": f"Runs the poller over the due jobs of shard {shard} of {shards}",
        "ScheduleExpression": "rate(1 minute)",
        "ScheduleExpressionTimezone": "Etc/UTC",
        "State": "ENABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": get_att(logical_id(template_json, "Poller/Function")),
            "RoleArn": get_att(logical_id(template_json, "Poller/ScheduleRole")),
            "Input": json.dumps({"shard": str(shard)}, separators=(",", ":")),
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300},
            "DeadLetterConfig": {"Arn": get_att(logical_id(template_json, "Poller/DeadLetterQueue"))},
        },
    }


def _schedule_path(shard: int) -> str:
    # Shard 0 keeps the single schedule's construct ID (and so its logical ID and name).
    return "Poller/Schedule" if shard == 0 else f"Poller/Schedule{shard}"


def test_one_schedule_invokes_the_poller_every_minute_for_the_local_single_shard(
    template: Any, template_json: dict[str, Any]
) -> None:
    template.resource_count_is("AWS::Scheduler::Schedule", 1)
    template.has_resource_properties("AWS::Scheduler::Schedule", {"Name": Match.absent()})
    assert resource(template_json, "Poller/Schedule")["Properties"] == _expected_schedule(template_json, 0, 1)
    assert logical_id(template_json, "Poller/Schedule") == "PollerSchedule74EB746C"


def test_the_aws_stage_has_one_schedule_per_shard(aws_synth: Synth) -> None:
    template_json = aws_synth.template
    schedules = resources(template_json, "AWS::Scheduler::Schedule")
    assert len(schedules) == 8
    assert {logical_id(template_json, _schedule_path(shard)) for shard in range(8)} == schedules.keys()
    for shard in range(8):
        properties = resource(template_json, _schedule_path(shard))["Properties"]
        assert properties == _expected_schedule(template_json, shard, 8), shard
    # Each shard exactly once: no shard is left unpolled, none polled twice.
    inputs = sorted(json.loads(s["Properties"]["Target"]["Input"])["shard"] for s in schedules.values())
    assert inputs == [str(shard) for shard in range(8)]


def test_the_scheduled_shards_are_the_ones_create_job_assigns(aws_synth: Synth) -> None:
    """create_job puts each job in one of POLL_SCHEDULE's shards: each has a schedule, none is extra."""
    from common.schedule import PollSchedule, shard_of

    variables = resource(aws_synth.template, "Poller/Function")["Properties"]["Environment"]["Variables"]
    shards = PollSchedule.from_json(variables["POLL_SCHEDULE"]).shards
    assert shards == 8
    inputs = {
        json.loads(s["Properties"]["Target"]["Input"])["shard"]
        for s in resources(aws_synth.template, "AWS::Scheduler::Schedule").values()
    }
    assert {shard_of(f"job-{n}", shards) for n in range(2000)} == inputs


def test_dead_letter_queue_is_encrypted_and_refuses_plain_http(template_json: dict[str, Any]) -> None:
    queue_id = logical_id(template_json, "Poller/DeadLetterQueue")
    assert resources(template_json, "AWS::SQS::Queue").keys() == {queue_id}
    properties = resource(template_json, "Poller/DeadLetterQueue")["Properties"]
    assert properties["SqsManagedSseEnabled"] is True
    assert properties["MessageRetentionPeriod"] == 14 * 86_400
    policy = resource(template_json, "Poller/DeadLetterQueue/Policy")["Properties"]
    assert policy["Queues"] == [{"Ref": queue_id}]
    assert {
        "Action": "sqs:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": get_att(queue_id),
    } in policy["PolicyDocument"]["Statement"]
