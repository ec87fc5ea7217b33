"""Requests LocalStack forwards to DynamoDB Local skip requests' environment lookups (.netrc, proxy
variables, the CA bundle's isdir; localcloud_ext/backend_proxy.py). Run in the shared local cloud's
own interpreter, where LocalStack is installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import localcloud

SCRIPT = """
from localcloud_ext import backend_proxy
from localstack.aws.forwarder import AwsRequestProxy

backend_proxy.apply()
for url in ("http://localhost:4510", "http://127.0.0.1:4510", "https://dynamodb.example.com"):
    print(url, AwsRequestProxy(url).proxy.client.session.trust_env)
"""


def test_a_proxy_to_a_local_backend_ignores_the_environment_and_others_keep_it(
    shared_cloud: localcloud.Instance,
) -> None:
    argv = Path(f"/proc/{shared_cloud.pid}/cmdline").read_bytes().split(b"\0")
    python = argv[0].decode()
    assert python.endswith("/bin/python"), argv
    out = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == [
        "http://localhost:4510 False",
        "http://127.0.0.1:4510 False",
        "https://dynamodb.example.com True",
    ]


def test_local_hosts() -> None:
    from tests.localcloud.helpers import extension_module

    is_local = extension_module("backend_proxy").is_local
    assert is_local("http://localhost:4566") and is_local("127.0.0.1:8000") and is_local("http://[::1]:1")
    assert not is_local("https://dynamodb.us-east-1.amazonaws.com") and not is_local("http://localhost.example.com")
