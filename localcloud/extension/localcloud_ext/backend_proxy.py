"""Requests forwarded to a backend on this machine skip requests' environment lookups.

LocalStack forwards every DynamoDB request to DynamoDB Local through a ``requests`` session
(``AwsRequestProxy`` -> rolo's ``SimpleRequestsClient``). With ``trust_env`` on, the default, each
request looks for a ``.netrc`` (``os.path.exists``), reads the proxy variables and, because LocalStack
sets ``REQUESTS_CA_BUNDLE``, checks whether that bundle is a directory (``os.path.isdir``). py-spy
on LocalStack during 2,000 executions at once: 6.6% of the one process's CPU. A backend on
localhost over plain HTTP uses none of it (no credentials, no proxy, no TLS).

``apply()`` (the ``on_infra_start`` hook, plugins.py) turns ``trust_env`` off for proxies whose
backend is on localhost; a proxy to any other host keeps the environment's settings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_ORIGINAL: dict[str, Any] = {}


def is_local(url: str) -> bool:
    return (urlsplit(url if "://" in url else f"http://{url}").hostname or "") in LOCAL_HOSTS


def apply() -> None:
    """Patch ``AwsRequestProxy`` so a proxy to a local backend ignores the environment (idempotent)."""
    from localstack.aws.forwarder import AwsRequestProxy

    if "init" in _ORIGINAL:
        return
    original = AwsRequestProxy.__init__
    _ORIGINAL["init"] = original

    def __init__(self: Any, endpoint_url: str, *args: Any, **kwargs: Any) -> None:
        original(self, endpoint_url, *args, **kwargs)
        session = getattr(getattr(self.proxy, "client", None), "session", None)
        if session is not None and is_local(endpoint_url):
            session.trust_env = False

    AwsRequestProxy.__init__ = __init__
