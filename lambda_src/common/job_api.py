"""Client of the external job API (here the simulated_api Lambda), used by create_job and poller."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

if TYPE_CHECKING:  # boto3-stubs: a dev dependency, not in the Lambda runtime
    from mypy_boto3_lambda import LambdaClient

JobStatus = Literal["IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"]
Outcome = Literal["SUCCEED", "FAIL", "NEVER_FINISH"]
# What a caller may ask the simulated API to do with a job (its "simulate.outcome").
SIMULATED_OUTCOMES: tuple[Outcome, ...] = ("SUCCEED", "FAIL", "NEVER_FINISH")


class StatusReport(TypedDict, total=False):
    jobId: str
    status: JobStatus
    pollCount: int
    completionPolls: int
    result: dict[str, Any]
    error: str


class JobApiError(RuntimeError):
    """The job API answered with an error (error_type is the API's error name)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class JobNotFound(JobApiError):
    """The job API has no job with this id."""

    def __init__(self, message: str) -> None:
        super().__init__("JobNotFound", message)


@dataclass(frozen=True, kw_only=True)
class JobApiClient:
    lambda_client: LambdaClient
    function_name: str

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        response = self.lambda_client.invoke(
            FunctionName=self.function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(request).encode(),
        )
        raw = response["Payload"].read()
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            raise JobApiError("BadResponse", f"job API returned non-JSON: {raw[:200]!r}") from None
        if response.get("FunctionError"):
            details = body if isinstance(body, dict) else {}
            error_type = str(details.get("errorType", "JobApiError"))
            message = str(details.get("errorMessage", body))
            if error_type == "JobNotFound":
                raise JobNotFound(message)
            raise JobApiError(error_type, message)
        if not isinstance(body, dict):
            raise JobApiError("BadResponse", f"job API returned {body!r}, expected an object")
        return body

    def create_job(self, *, idempotency_key: str, simulate: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
        """Start a job; the same idempotency key always gives back the same job (a retry starts nothing new)."""
        return self._call(
            {"action": "CREATE_JOB", "idempotencyKey": idempotency_key, "simulate": simulate, "payload": payload}
        )

    # cast: CHECK_STATUS and CANCEL_JOB answer a status report (simulated_api's contract, docs/design.md);
    # _call has already checked that the answer is a JSON object.
    def check_status(self, job_id: str) -> StatusReport:
        return cast(StatusReport, self._call({"action": "CHECK_STATUS", "jobId": job_id}))

    def cancel_job(self, job_id: str) -> StatusReport:
        """Stop a job nobody waits for any more; a job that already ended keeps its end."""
        return cast(StatusReport, self._call({"action": "CANCEL_JOB", "jobId": job_id}))
