"""The poller's schedule and its dead-letter queue."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from .template_helpers import get_att, logical_id, resource, resources


def test_schedule_invokes_the_poller_every_minute_with_an_empty_event(
    template: Any, template_json: dict[str, Any]
) -> None:
    template.resource_count_is("AWS::Scheduler::Schedule", 1)
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "rate(1 minute)",
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Name": Match.absent(),
            "Target": {
                "Arn": get_att(logical_id(template_json, "Poller/Function")),
                "RoleArn": get_att(logical_id(template_json, "Poller/ScheduleRole")),
                "Input": "{}",
                "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300},
                "DeadLetterConfig": {"Arn": get_att(logical_id(template_json, "Poller/DeadLetterQueue"))},
            },
        },
    )


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
