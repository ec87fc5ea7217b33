"""The callback workflow's ASL and the state machine's settings."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from common import end_states

from .template_helpers import end_states_of, expected_end_states, logical_id, resource, state_machine_definition


@pytest.fixture(scope="module")
def definition(template_json: dict[str, Any]) -> dict[str, Any]:
    return state_machine_definition(template_json)


@pytest.fixture(scope="module")
def create_job(definition: dict[str, Any]) -> dict[str, Any]:
    return dict(definition["States"]["CreateJob"])


def test_states_and_start(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "CreateJob"
    assert {name: state["Type"] for name, state in definition["States"].items()} == {
        "CreateJob": "Task",
        "JobSucceeded": "Succeed",
        "TimedOut": "Fail",
        "JobFailed": "Fail",
        "RouteError": "Choice",
        "Error": "Fail",
        "RuntimeError": "Fail",
    }


def test_the_end_states_are_the_ones_common_end_states_names(definition: dict[str, Any]) -> None:
    # callbackctl (the demo's expectations, results) reads how an execution ended by these names:
    # an end state added to the construct and not to the module, or the other way round, fails here.
    assert end_states_of(definition) == expected_end_states(end_states.WORKFLOW_END_STATES, end_states.JOB_SUCCEEDED)


def test_jsonpath_not_jsonata(template_json: dict[str, Any], definition: dict[str, Any]) -> None:
    # JSONata makes LocalStack download a jar, which fails offline.
    assert definition.get("QueryLanguage", "JSONPath") == "JSONPath"
    assert all("QueryLanguage" not in state for state in definition["States"].values())
    assert "JSONata" not in str(template_json)


def test_create_job_waits_for_the_task_token(template_json: dict[str, Any], create_job: dict[str, Any]) -> None:
    assert create_job["Resource"] == "arn:${AWS::Partition}:states:::lambda:invoke.waitForTaskToken"
    create_job_function = logical_id(template_json, "Workflow/CreateJobFunction")
    assert create_job["Parameters"] == {
        "FunctionName": "${" + create_job_function + ".Arn}",
        "Payload": {
            "taskToken.$": "$$.Task.Token",
            "executionId.$": "$$.Execution.Id",
            # With the execution, the job's idempotency key: a redriven execution starts a new job.
            "redriveCount.$": "$$.Execution.RedriveCount",
            # The task attempt: the record keeps the latest attempt's token.
            "retryCount.$": "$$.State.RetryCount",
            "input.$": "$",
        },
    }


def test_create_job_timeouts_come_from_the_stage(create_job: dict[str, Any]) -> None:
    assert create_job["TimeoutSeconds"] == 1800
    assert create_job["HeartbeatSeconds"] == 600


def test_create_job_is_retried_on_every_transient_lambda_error(create_job: dict[str, Any]) -> None:
    # create_job is idempotent (tests/handlers), so a retry after it started the job is safe. Its own
    # transient error (a refused or unanswered DynamoDB write) is retried with the Lambda ones.
    from common.errors import RECORD_WRITE_FAILED

    throttled, transient = create_job["Retry"]
    assert throttled["ErrorEquals"] == ["Lambda.TooManyRequestsException"]
    assert (throttled["IntervalSeconds"], throttled["BackoffRate"], throttled["MaxAttempts"]) == (2, 2, 60)
    assert (throttled["MaxDelaySeconds"], throttled["JitterStrategy"]) == (60, "FULL")
    assert set(transient["ErrorEquals"]) == {
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.Unknown",
        "Sandbox.Timedout",
        RECORD_WRITE_FAILED,  # create_job's RecordWriteFailed (tests/handlers checks the name)
    }
    assert (transient["IntervalSeconds"], transient["BackoffRate"], transient["MaxAttempts"]) == (1, 2, 6)
    assert (transient["MaxDelaySeconds"], transient["JitterStrategy"]) == (20, "FULL")


def test_bad_input_is_never_retried(create_job: dict[str, Any]) -> None:
    from common.errors import INVALID_JOB_INPUT

    assert not [
        r for r in create_job["Retry"] if {INVALID_JOB_INPUT, "States.ALL", "States.TaskFailed"} & set(r["ErrorEquals"])
    ]


def test_success_keeps_the_input_and_adds_the_job_result(
    definition: dict[str, Any], create_job: dict[str, Any]
) -> None:
    assert create_job["ResultPath"] == "$.jobResult"
    assert "OutputPath" not in create_job and "ResultSelector" not in create_job
    assert create_job["Next"] == "JobSucceeded"
    assert definition["States"]["JobSucceeded"] == {"Type": "Succeed"}


def test_catches_in_order(create_job: dict[str, Any]) -> None:
    # The caught error replaces the state data ("$"): an input that is not an object could not
    # take it under a path, and the execution would end in States.Runtime instead of Error.
    assert create_job["Catch"] == [
        {"ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"], "ResultPath": "$", "Next": "TimedOut"},
        {"ErrorEquals": ["JobFailed", "MaxAttemptsExceeded", "ResultTooLarge"], "ResultPath": "$", "Next": "JobFailed"},
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": "RouteError"},
    ]


def test_the_handlers_error_names_are_the_ones_the_definition_routes(create_job: dict[str, Any]) -> None:
    from common import errors
    from stacks.workflow import JOB_FAILED_ERRORS

    assert JOB_FAILED_ERRORS == errors.JOB_FAILURE_ERRORS
    routed = {name for catch in create_job["Catch"] for name in catch["ErrorEquals"]}
    assert set(errors.JOB_FAILURE_ERRORS) <= routed


def test_the_table_names_the_handlers_use_are_the_ones_the_stack_creates(template_json: dict[str, Any]) -> None:
    from common import records
    from stacks import job_store

    assert (job_store.DUE_INDEX_NAME, job_store.DUE_SHARD_ATTRIBUTE, job_store.DUE_AT_ATTRIBUTE) == (
        records.DUE_INDEX,
        records.DUE_SHARD,
        records.DUE_AT,
    )
    assert job_store.TTL_ATTRIBUTE == records.TTL_ATTRIBUTE


def test_timeouts_end_with_a_custom_error_name(definition: dict[str, Any]) -> None:
    # A Fail state may not end an execution with a States.* name (LocalStack enforces it).
    timed_out = definition["States"]["TimedOut"]
    assert timed_out["Error"] == "JobTimedOut"
    assert "heartbeat" in timed_out["Cause"]


def test_other_errors_keep_custom_names_and_rename_runtime_errors(definition: dict[str, Any]) -> None:
    route = definition["States"]["RouteError"]
    assert route["Choices"] == [{"Variable": "$.Error", "StringMatches": "States.*", "Next": "RuntimeError"}]
    assert route["Default"] == "Error"
    runtime = definition["States"]["RuntimeError"]
    assert runtime["Error"] == "WorkflowRuntimeError" and runtime["CausePath"] == "$.Cause"


@pytest.mark.parametrize("state", ["JobFailed", "Error"])
def test_fail_states_reraise_the_original_error(definition: dict[str, Any], state: str) -> None:
    fail = definition["States"][state]
    assert fail["ErrorPath"] == "$.Error"
    assert fail["CausePath"] == "$.Cause"
    assert "Error" not in fail and "Cause" not in fail


def test_execution_timeout_is_a_backstop_past_the_throttled_retries_and_the_task_timeout(
    definition: dict[str, Any], create_job: dict[str, Any]
) -> None:
    # The throttled retries may wait 2 + 4 + 8 + 16 + 32 + 60 x 55 s before the task runs, up to its timeout.
    throttled = create_job["Retry"][0]
    assert throttled["MaxAttempts"] == 60 and throttled["MaxDelaySeconds"] == 60
    assert definition["TimeoutSeconds"] == (2 + 4 + 8 + 16 + 32 + 60 * 55) + 1800 + 300


def test_standard_traced_and_logged(template: Any, template_json: dict[str, Any]) -> None:
    template.resource_count_is("AWS::StepFunctions::StateMachine", 1)
    log_group = logical_id(template_json, "Workflow/StateMachineLogGroup")
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group, "Arn"]}}}],
                "Level": "ALL",
                # Execution data would put whole task tokens in the logs.
                "IncludeExecutionData": False,
            },
            "StateMachineName": Match.absent(),
        },
    )
    assert resource(template_json, "Workflow/StateMachineLogGroup")["Properties"]["RetentionInDays"] == 7
