"""Requests forwarded to a backend on this machine go through one urllib3 pool, not ``requests``.

LocalStack forwards every DynamoDB request to DynamoDB Local through a ``requests`` session
(``AwsRequestProxy`` -> rolo's ``SimpleRequestsClient``). For a backend on localhost over plain
HTTP most of that session's work per request is wasted:

- with ``trust_env`` on, the default, it looks for a ``.netrc`` (``os.path.exists``), reads the
  proxy variables and, because LocalStack sets ``REQUESTS_CA_BUNDLE``, checks whether that bundle
  is a directory (``os.path.isdir``): 6.6% of LocalStack's one process during 2,000 executions at
  once (py-spy);
- preparing the request (cookies, hooks, auth, merged settings) and the adapter around urllib3:
  with the environment lookups gone, ``Session.request`` was still 20% of the process during 1,000
  executions at once (py-spy, 2026-12-02), most of the 22% that forwarding to DynamoDB Local took;
- the answer is streamed back in 1 KB chunks, each one a generator step.

``LocalBackendClient`` makes the same request with urllib3 alone and reads the answer at once (a
DynamoDB Local answer is one JSON document). ``apply()`` (the ``on_infra_start`` hook, plugins.py)
gives it to proxies whose backend is on localhost; a proxy to any other host keeps rolo's client
and the environment's settings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
POOL_SIZE = 64  # connections kept per backend: LocalStack's gateway serves many requests at once
_ORIGINAL: dict[str, Any] = {}


def is_local(url: str) -> bool:
    return (urlsplit(url if "://" in url else f"http://{url}").hostname or "") in LOCAL_HOSTS


class LocalBackendClient:
    """rolo's ``HttpClient`` for a backend on this machine: the request rolo's ``SimpleRequestsClient``
    would make (same URL, headers and payload, no redirects followed), sent through one urllib3 pool,
    and the whole answer read before it is returned."""

    def __init__(self) -> None:
        import urllib3

        self._pool = urllib3.PoolManager(maxsize=POOL_SIZE, retries=False)

    def request(self, request: Any, server: str | None = None) -> Any:
        import urllib3
        from rolo import Response
        from rolo.client import SimpleRequestsClient
        from rolo.request import restore_payload
        from werkzeug.datastructures import Headers

        url = SimpleRequestsClient._get_destination_url(request, server)
        if request.query_string:
            url = f"{url}?{request.query_string.decode('latin-1')}"
        headers = dict(request.headers.items())
        if not request.headers.get("accept-encoding"):
            headers["accept-encoding"] = urllib3.util.SKIP_HEADER  # as rolo: urllib3 adds none
        answer = self._pool.urlopen(
            request.method,
            url,
            body=restore_payload(request) or None,
            headers=headers,
            redirect=False,
            preload_content=True,
            decode_content=False,
        )
        response_headers = Headers()
        for name, value in answer.headers.iteritems():
            response_headers.add(name, value)
        if "chunked" in (encoding := response_headers.get("Transfer-Encoding", "")):
            # As rolo: the answer is whole now, the web server sets its own length and encoding.
            response_headers.pop("Content-Length", None)
            kept = [v.strip() for v in encoding.split(",") if v.strip().lower() != "chunked"]
            response_headers.setlist("Transfer-Encoding", kept)
        response = Response(response=answer.data, status=answer.status, headers=response_headers)
        if request.method == "HEAD":
            response.content_length = answer.headers.get("Content-Length", 0)
        return response

    def close(self) -> None:
        self._pool.clear()


def apply() -> None:
    """Patch ``AwsRequestProxy`` so a proxy to a local backend uses ``LocalBackendClient`` (idempotent)."""
    from localstack.aws.forwarder import AwsRequestProxy

    if "init" in _ORIGINAL:
        return
    original = AwsRequestProxy.__init__
    _ORIGINAL["init"] = original

    def __init__(self: Any, endpoint_url: str, *args: Any, **kwargs: Any) -> None:
        original(self, endpoint_url, *args, **kwargs)
        if is_local(endpoint_url) and getattr(self.proxy, "client", None) is not None:
            self.proxy.client.close()
            self.proxy.client = LocalBackendClient()

    AwsRequestProxy.__init__ = __init__
