"""What can go wrong, as exceptions that carry their exit code (one scheme for every command).

| code | meaning |
|---|---|
| 0 | success |
| 1 | the command ran, but something did not end as expected (an execution did not succeed, a deploy failed) |
| 2 | usage error: a bad option or input; the message says what to fix |
| 3 | the target is unreachable: nothing answers at the endpoint, no credentials, the stack is not deployed |
| 4 | timed out waiting (--timeout) |
| 130 | interrupted (Ctrl+C) |
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    NOT_AS_EXPECTED = 1
    USAGE = 2
    UNREACHABLE = 3
    TIMED_OUT = 4
    INTERRUPTED = 130


EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    ran, but something did not end as expected (e.g. an execution did not succeed)
  2    usage error (bad option or input)
  3    target unreachable (no answer, no credentials, stack not deployed)
  4    timed out waiting (--timeout)
  130  interrupted (Ctrl+C)"""


class CallbackctlError(RuntimeError):
    """A problem reported as one line (no traceback); the message says what to do."""

    exit_code = ExitCode.NOT_AS_EXPECTED


class UsageError(CallbackctlError):
    """A problem the user can fix in the command line or its input."""

    exit_code = ExitCode.USAGE


class TargetUnreachable(CallbackctlError):
    """The target does not answer, refuses our credentials, or has no stack deployed."""

    exit_code = ExitCode.UNREACHABLE


class TimedOut(CallbackctlError):
    """Waited for longer than --timeout."""

    exit_code = ExitCode.TIMED_OUT


class CommandFailed(CallbackctlError):
    """The command ran, but its work did not end as expected."""

    exit_code = ExitCode.NOT_AS_EXPECTED
