"""LocalStack's line per request only when asked for (localcloud_ext/request_log.py): the log keeps
the functions' output, warnings and errors. On the shared instance."""

from __future__ import annotations

import botocore.exceptions
import pytest

import localcloud
from tests.localcloud.helpers import Clients


def test_requests_leave_no_line_in_the_log_by_default(
    shared_client: Clients, shared_cloud: localcloud.Instance
) -> None:
    shared_client("dynamodb").list_tables()
    with pytest.raises(botocore.exceptions.ClientError):  # an error answer is not logged either
        shared_client("dynamodb").describe_table(TableName="no-such-table-request-log")
    shared_client("sqs").list_queues()
    lines = shared_cloud.log_file.read_text(errors="replace").splitlines()
    assert lines, "the local cloud's log is empty"
    assert [line for line in lines if "localstack.request" in line] == []
    assert not any("no-such-table-request-log" in line or "dynamodb.ListTables" in line for line in lines)
