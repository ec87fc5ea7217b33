"""Requests LocalStack forwards to a backend on this machine (DynamoDB Local) go through one urllib3
pool instead of a ``requests`` session (localcloud_ext/backend_proxy.py). Run in the shared local
cloud's own interpreter, where LocalStack is installed; every DynamoDB call of the other local-cloud
tests goes through it too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import localcloud

SCRIPT = """
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from localcloud_ext import backend_proxy
from localstack.aws.forwarder import AwsRequestProxy
from rolo import Request

backend_proxy.apply()
for url in ("http://localhost:4510", "http://127.0.0.1:4510", "https://dynamodb.example.com"):
    print(url, type(AwsRequestProxy(url).proxy.client).__name__)

class Echo(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen = {"path": self.path, "body": body.decode(), "target": self.headers["X-Amz-Target"],
                "host": self.headers["Host"]}
        answer = json.dumps(seen).encode() * 1  # one JSON document, as DynamoDB Local answers
        self.send_response(400 if b"fail" in body else 200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
threading.Thread(target=server.serve_forever, daemon=True).start()
proxy = AwsRequestProxy(f"http://127.0.0.1:{server.server_port}")
for payload in (b'{"TableName": "t"}', b'{"fail": "' + b"x" * 5000 + b'"}'):
    request = Request("POST", "/", query_string="a=1&b=2", body=payload, headers={
        "Host": "localhost:4566", "X-Amz-Target": "DynamoDB_20120810.GetItem",
        "Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(payload))})
    response = proxy.proxy.forward(request)
    seen = json.loads(response.data)
    print(response.status_code, seen["path"], seen["target"], seen["host"], len(seen["body"]) == len(payload))
"""


def test_a_proxy_to_a_local_backend_uses_one_urllib3_pool_and_forwards_the_same_request(
    shared_cloud: localcloud.Instance,
) -> None:
    argv = Path(f"/proc/{shared_cloud.pid}/cmdline").read_bytes().split(b"\0")
    python = argv[0].decode()
    assert python.endswith("/bin/python"), argv
    out = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.splitlines() == [
        "http://localhost:4510 LocalBackendClient",
        "http://127.0.0.1:4510 LocalBackendClient",
        "https://dynamodb.example.com SimpleRequestsClient",
        # path and query, the AWS target header, the original Host (preserved), the whole body;
        # an error status comes back as it is
        "200 /?a=1&b=2 DynamoDB_20120810.GetItem localhost:4566 True",
        "400 /?a=1&b=2 DynamoDB_20120810.GetItem localhost:4566 True",
    ]


def test_local_hosts() -> None:
    from tests.localcloud.helpers import extension_module

    is_local = extension_module("backend_proxy").is_local
    assert is_local("http://localhost:4566") and is_local("127.0.0.1:8000") and is_local("http://[::1]:1")
    assert not is_local("https://dynamodb.us-east-1.amazonaws.com") and not is_local("http://localhost.example.com")
