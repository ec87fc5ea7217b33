"""The ``callbackctl`` command: its parser, built from the command registry, and one exit-code scheme.

To add a command, write a module with ``register(subparsers)`` (see ``options.add_command``) and
add it to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from botocore import exceptions as aws

from callbackctl import __version__
from callbackctl.bench import cli as bench_cli
from callbackctl.capacity import cli as capacity_cli
from callbackctl.cli.output import error
from callbackctl.commands import chaos, cleanup, demo, deploy, executions, logs, monitor, poll, template
from callbackctl.cost import cli as cost_cli
from callbackctl.errors import EXIT_CODES_HELP, CallbackctlError, ExitCode, UsageError

# In the order `callbackctl --help` lists them.
COMMANDS: tuple[ModuleType, ...] = (
    demo,
    deploy,
    executions,
    poll,
    monitor,
    logs,
    cleanup,
    chaos,
    template,
    cost_cli,
    capacity_cli,
    bench_cli,
)
_NO_CREDENTIALS = (
    aws.NoCredentialsError,
    aws.PartialCredentialsError,
    aws.CredentialRetrievalError,
    aws.SSOError,
    aws.TokenRetrievalError,
)
_UNREACHABLE = (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ConnectionClosedError)
_AUTH_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callbackctl",
        description="Deploy, run and watch the Step Functions callback-pattern stack; model and measure its cost.\n"
        "Every command has --help. Commands that talk to a deployment take --target and print JSON with --json.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"callbackctl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def _unreachable_message(err: Exception, args: argparse.Namespace) -> str:
    target, endpoint = getattr(args, "target", "localcloud"), getattr(args, "endpoint", None)
    if target == "aws":
        return f"cannot reach AWS: {err}"
    url = getattr(err, "kwargs", {}).get("endpoint_url") or endpoint or "the endpoint"
    if target == "localcloud":
        return f"cannot reach {url}: start the local cloud with `make localcloud-start`"
    return f"cannot reach the localstack endpoint {url}: start it (`docker compose up -d`) or pass --endpoint"


def _aws_error(err: Exception, args: argparse.Namespace) -> tuple[ExitCode, str]:
    """Exit code and one line for an AWS SDK error that reached the top."""
    if isinstance(err, _UNREACHABLE):
        return ExitCode.UNREACHABLE, _unreachable_message(err, args)
    if isinstance(err, _NO_CREDENTIALS):
        return ExitCode.UNREACHABLE, f"no usable AWS credentials ({err}): run `aws configure` or `aws sso login`"
    if isinstance(err, aws.ParamValidationError):
        return ExitCode.USAGE, str(err).replace("\n", " ")
    if isinstance(err, aws.ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", "")
        if code in _AUTH_CODES:
            return ExitCode.UNREACHABLE, f"AWS refused the credentials ({code}: {message}): check --profile"
        return ExitCode.NOT_AS_EXPECTED, f"{err.operation_name} failed: {code}: {message}"
    return ExitCode.NOT_AS_EXPECTED, str(err)


def _quiet_broken_pipe() -> int:
    """Output piped into `head` and the like: stop quietly, as `cat` does."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return int(ExitCode.OK)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; an unknown option is reported with its command's usage, not the top level's."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")  # exits 2
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    command: argparse.ArgumentParser = args.parser
    try:
        return int(args.func(args))
    except UsageError as err:
        command.print_usage(sys.stderr)
        error(str(err), command.prog)
        return int(err.exit_code)
    except CallbackctlError as err:
        error(str(err), command.prog)
        return int(err.exit_code)
    except (aws.BotoCoreError, aws.ClientError) as err:
        code, message = _aws_error(err, args)
        if code == ExitCode.USAGE:
            command.print_usage(sys.stderr)
        error(message, command.prog)
        return int(code)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        error("interrupted", command.prog)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        return _quiet_broken_pipe()
